# Stand-in for quay.io/minio/mc: `mc` as the entrypoint, /bin/sh beside it.
FROM localhost/thumbnails-base:bookworm
COPY mc /usr/bin/
ENTRYPOINT ["/usr/bin/mc"]
