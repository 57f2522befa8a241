# The SocraticWingman server. Production builds FROM an official Python image; CI builds FROM the
# Debian base `wingman sandbox build-image` makes locally (no registry there), from wheels built
# on the host (.ci/run does this):
#   pip wheel --wheel-dir deploy/wheels . && \
#   docker build --build-arg BASE=wingman-debian:bookworm -t wingman-server .
# Runs start as sibling containers through the engine it is given (see the README's sandbox
# section for what mounting the Docker socket grants, and safer ways to run it).
ARG BASE=python:3.11-slim-bookworm

FROM ${BASE} AS build
WORKDIR /src
RUN python3 -m venv /opt/wingman
COPY pyproject.toml README.md ./
COPY server server
COPY realtime realtime
COPY storage storage
COPY sandbox sandbox
COPY tutor tutor
COPY web web
# Wheels put in deploy/wheels are installed offline (CI builds them on the host: no PyPI inside
# its builds); with none there, pip installs from PyPI.
COPY deploy/wheels /wheels
# the app serves its pages from a `web` folder beside its packages
RUN if ls /wheels/*.whl >/dev/null 2>&1; then \
      /opt/wingman/bin/pip install --no-cache-dir --no-index --find-links /wheels socraticwingman ; \
    else \
      /opt/wingman/bin/pip install --no-cache-dir --upgrade pip \
      && /opt/wingman/bin/pip install --no-cache-dir . ; \
    fi \
 && cp -r web "$(/opt/wingman/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/web"

FROM ${BASE}
# libseccomp2: the sandbox's seccomp filter is compiled with it (present in Debian bases)
RUN useradd --system --uid 10001 --home-dir /var/lib/wingman --create-home wingman
COPY --from=build /opt/wingman /opt/wingman
ENV PATH=/opt/wingman/bin:$PATH \
    DATA_DIR=/var/lib/wingman \
    HOST=0.0.0.0 \
    PORT=8000 \
    SANDBOX_BACKEND=docker
USER wingman
WORKDIR /var/lib/wingman
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/readyz', timeout=2)"]
CMD ["wingman", "serve"]
