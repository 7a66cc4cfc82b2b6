# Stand-in for python:3.12-slim: python, python3, pip in /usr/local/bin.
# python/ is a CPython 3.12 prefix (bin, lib, include) copied from the machine's pyenv, or empty:
# then Debian's python3 (3.11; the project needs >= 3.11) stands in.
FROM localhost/thumbnails-base:bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends libssl3 libffi8 libsqlite3-0 libbz2-1.0 liblzma5 zlib1g \
        libreadline8 libncursesw6 libexpat1 libuuid1 libnsl2 libcrypt1 \
    && rm -rf /var/lib/apt/lists/*
COPY python/ /usr/local/
RUN if [ -x /usr/local/bin/python3.12 ]; then \
        ldconfig && python3.12 -m ensurepip --default-pip >/dev/null \
        && ln -sf python3.12 /usr/local/bin/python && ln -sf python3.12 /usr/local/bin/python3 \
        && ln -sf pip3.12 /usr/local/bin/pip; \
    else \
        apt-get update && apt-get install -y --no-install-recommends python3 python3-pip \
        && rm -rf /var/lib/apt/lists/* \
        && ln -sf /usr/bin/python3 /usr/local/bin/python && ln -sf /usr/bin/pip3 /usr/local/bin/pip \
        && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED; \
    fi \
    && python -c "import ssl, sqlite3, zlib, bz2, lzma, ctypes; print('python', __import__('sys').version)"
ENV LANG=C.UTF-8
CMD ["python3"]
