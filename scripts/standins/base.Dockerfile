# FROM the debootstrap import (scripts/compose-test.sh). The TLS proxy's CA certificates are
# copied in at build time so that apt-get and pip work inside later builds.
FROM localhost/debian:bookworm
COPY certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    DEBIAN_FRONTEND=noninteractive
CMD ["/bin/bash"]
