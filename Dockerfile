# The opml node image: the Python package, the pinned npm toolchain (solc-js to build the contracts, and the
# Anvil binary the compose file's devnet chain runs), the built contracts, the committed MIPS kernels and the
# MNIST models (with the test digits), so the daemons serve the ML level stack.
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
COPY kernels/build ./kernels/build
COPY kernels/manifest.json ./kernels/
COPY models/*.opml models/*.scales.json models/mnist_data.npz ./models/
RUN pip install --no-cache-dir -e . && python -m opml.chain.build

ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["opml"]
CMD ["--help"]
