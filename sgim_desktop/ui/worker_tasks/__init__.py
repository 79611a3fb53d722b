"""The task thread's jobs: one small class per job, each calling the engine API (imported lazily, in ``run``)."""
