FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY marketplace ./marketplace
COPY workers ./workers
COPY sql ./sql
RUN pip install --no-cache-dir .
ENV MARKETPLACE_DATA_DIR=/var/lib/marketplace
RUN useradd --system --home /var/lib/marketplace marketplace \
    && mkdir -p /var/lib/marketplace && chown marketplace /var/lib/marketplace
USER marketplace
EXPOSE 8000
CMD ["marketplace", "serve"]
