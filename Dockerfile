# The opml node image: the Python package, the pinned npm toolchain (solc-js to build the contracts, and the
# Anvil binary the compose file's devnet chain runs), and the built contracts.
#   docker build -t opml-node .      docker run --rm opml-node --help
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opml
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

COPY pyproject.toml README.md ./
COPY services ./services
COPY contracts ./contracts
COPY tools ./tools
COPY config ./config
RUN pip install --no-cache-dir -e . && python -m opml.chain.build

ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["opml"]
CMD ["--help"]
