# Stand-in for softwaremill/elasticmq: the server on a JRE, JAVA_OPTS honoured, the
# configuration read from /opt/elasticmq.conf (which compose mounts over the default).
FROM localhost/thumbnails-base:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
    && rm -rf /var/lib/apt/lists/*
COPY lib/ /opt/elasticmq/lib/
COPY elasticmq.conf /opt/elasticmq.conf
EXPOSE 9324 9325
ENTRYPOINT ["/bin/sh", "-c", "exec java $JAVA_OPTS -Dconfig.file=/opt/elasticmq.conf -cp '/opt/elasticmq/lib/*' org.elasticmq.server.Main"]
