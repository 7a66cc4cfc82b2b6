# Stand-in for quay.io/minio/minio: `minio` as the entrypoint (so `command: server /data` works)
# and `mc` beside it for the `mc ready local` health check.
FROM localhost/thumbnails-base:bookworm
COPY minio mc /usr/bin/
EXPOSE 9000 9001
VOLUME ["/data"]
ENTRYPOINT ["/usr/bin/minio"]
CMD ["server", "/data"]
