# Stand-in for postgres:15: Debian bookworm's PostgreSQL 15 with an entrypoint
# (postgres-entrypoint.sh) that does what docker-compose.yaml relies on from the official image:
# initdb on an empty PGDATA with POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, password auth
# from the network, postgres in the foreground as the postgres user; pg_isready on PATH.
FROM localhost/thumbnails-base:bookworm
# Debian's packaging would make and start a cluster of its own (/var/lib/postgresql/15/main):
# no cluster (createcluster.conf, as the official image does), no service start (policy-rc.d).
RUN printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-common \
    && sed -ri 's/^#?\s*(create_main_cluster)\s*=.*$/\1 = false/' /etc/postgresql-common/createcluster.conf \
    && grep -q '^create_main_cluster = false$' /etc/postgresql-common/createcluster.conf \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && test ! -e /var/lib/postgresql/15/main \
    && mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql && chmod 3777 /var/run/postgresql
ENV PATH=$PATH:/usr/lib/postgresql/15/bin \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
RUN mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA" \
    && pg_isready --version && postgres --version
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
# Fast shutdown (the official image's choice); SIGTERM would be a smart one.
STOPSIGNAL SIGINT
EXPOSE 5432
CMD ["postgres"]
