# The SkillMind Analytics app image: `docker compose build` makes it, every app service runs it.
#
# Stage 1 builds wheels for the locked dependencies and our package; stage 2 installs
# them into a slim image without compilers and runs as an unprivileged user.
# Dependencies are pinned in requirements.lock (regenerate with `make lock`).

FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY skillmind ./skillmind
COPY events ./events
COPY projections ./projections
COPY api ./api
COPY jobs ./jobs
COPY schemas ./schemas
# --no-deps: everything the package needs is already installed, at the locked versions.
RUN pip install --no-deps . && pip check

FROM python:3.11-slim
RUN groupadd --system --gid 10001 skillmind \
 && useradd --system --uid 10001 --gid skillmind --home-dir /home/skillmind --create-home skillmind
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 SKILLMIND_STATE_DIR=/home/skillmind/state
USER skillmind
WORKDIR /home/skillmind
EXPOSE 8000
ENTRYPOINT ["skillmind"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
