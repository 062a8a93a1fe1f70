# unify-dash as a service: the app, the scheduler worker and the CLI's API in one process.
#   docker build -t unify-dash .
#   docker run -p 8501:8501 -v unify-data:/app/data -v ./secrets.toml:/app/.streamlit/secrets.toml:ro unify-dash
#   (off loopback the app needs [auth] in secrets.toml: it refuses local mode there)
#   docker exec CONTAINER .venv/bin/unify-dash status      # the CLI forwards to the service
# It installs as a fresh machine does (make install), and starts what make run starts: the demo database
# when the volume holds none, then unify-dash serve. See docs/service.md.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends make && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN make install
ENV STREAMLIT_SERVER_ADDRESS=0.0.0.0 STREAMLIT_SERVER_PORT=8501 STREAMLIT_SERVER_HEADLESS=true
EXPOSE 8501
VOLUME /app/data
STOPSIGNAL SIGTERM
# make db: the demo database on the first start (skipped when the volume holds one); exec: SIGTERM reaches the service
CMD ["sh", "-c", "make db && exec .venv/bin/unify-dash serve --db data/unify.duckdb"]
