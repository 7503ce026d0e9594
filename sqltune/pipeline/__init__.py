"""The main job: one recipe drives fixture -> train -> evaluate -> merge -> report."""

from sqltune.pipeline.run import PipelineConfig, PipelineResult, recipe_path, run_pipeline  # noqa: F401
