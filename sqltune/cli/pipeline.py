"""`sqltune run [RECIPE]`: the main job: fixture, QLoRA training, evaluation, merge, report."""

from __future__ import annotations

from pathlib import Path

import typer

from sqltune.cli.console import CliConsole
from sqltune.cli.options import config_options
from sqltune.pipeline.run import PipelineConfig

console = CliConsole()


@config_options(PipelineConfig, exclude=("train", "eval"), panels={"": "Recipe"})
def run(
    recipe: str = typer.Argument("harbor-cpu", help="Recipe YAML path or a shipped recipe name (sqltune/pipeline/recipes/)."),
    set_: list[str] = typer.Option([], "--set", help="Override any recipe setting: KEY=VALUE with a dotted key, e.g. train.max_steps=20 or eval.limit=50; repeat for several."),
    resume: bool = typer.Option(False, "--resume", help="Reuse finished stages in the run folder; continue training from its last checkpoint."),
    *,
    overrides: dict,
) -> None:
    """Build the fixture, train a QLoRA adapter, evaluate prompt-only vs adapter vs merged, and report."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sqltune.cli.evaluate import print_summary
    from sqltune.cli.options import parse_set_options
    from sqltune.core.config import load_yaml
    from sqltune.pipeline import recipe_path, run_pipeline

    config = load_yaml(PipelineConfig, recipe_path(recipe), {**overrides, **parse_set_options(set_)})
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.fields[note]}"), TimeElapsedColumn(), console=console) as bar:
        tasks: dict[str, int] = {}

        def task(name: str, total=None) -> int:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total, note="")
            return tasks[name]

        plain = not console.is_terminal  # a log file gets periodic plain lines, not a redrawn bar

        def on_event(stage: str, info: dict) -> None:
            if stage == "train-progress":
                t = task("train")
                if info.get("event") == "step":
                    bar.update(t, completed=info["step"], total=info.get("total"))
                elif info.get("event") == "log":
                    bar.update(t, note=info["line"].split(" ", 2)[-1])
                    if plain:
                        bar.console.print(info["line"], highlight=False)
                elif info.get("event") in ("budget", "note"):
                    bar.console.print(info["line"], highlight=False)
                elif info.get("event") == "plan":
                    bar.console.print(("plan: " if info["kind"] == "planned" else "re-planned: ") + info["summary"], highlight=False)
                elif info.get("event") == "eval":
                    bar.console.print(f"step {info['step']}: held-out loss {info['eval_loss']:.4f} at {info['minutes']:.1f} min", highlight=False)
            elif stage == "plan":
                bar.console.print("[bold]plan[/] for this machine:", highlight=False)
                for line in info["lines"]:
                    bar.console.print("  " + line, highlight=False, markup=False)
            elif stage == "eval-plan":
                bar.console.print(f"[bold]eval plan[/] {info['s_per_question']} s/question measured on {info['probe_questions']} "
                                  f"questions: {info['limit']} questions x {info['forms']} forms, ~{info['expected_s'] / 60:.1f} min"
                                  + (f" ({info['reused']}: the timed batch is its evaluation)" if info.get("reused") else ""), highlight=False)
            elif stage == "curve-scored":
                bar.console.print("learning curve: " + ", ".join(
                    f"step {p['step']} ({p['minutes']:.1f} min) loss {p['eval_loss']:.3f} EX {p['execution_accuracy']:.0%}"
                    for p in info["points"]) + f" (greedy, {info['points'][0]['ex_questions']} questions)" if info["points"] else
                    "learning curve: no snapshot scored", highlight=False)
            elif stage == "eval-progress":
                bar.update(task(f"eval {info['label']}"), completed=info["done"], total=info["total"])
            elif stage == "trained":
                bar.console.print(f"trained {info['steps']} steps in {info['wall_s']:.0f} s, {info['tokens_per_s']:.0f} tokens/s")
                if info.get("budget_plan"):
                    plan = info["budget_plan"]
                    bar.console.print(f"  planned {plan['max_steps']} steps = {plan['pairs']} pairs = {plan['epochs']:.2f} epochs "
                                      f"in a {plan['budget_s'] / 60:.0f}-minute budget", highlight=False)
            else:
                bar.console.print(f"[bold]{stage}[/] " + " ".join(f"{k}={v}" for k, v in info.items()), highlight=False)

        result = run_pipeline(config, on_event=on_event, resume=resume)
    for report in result.reports:
        print_summary(report)
    if result.merge_result is not None:
        merge = result.merge_result
        console.print(f"merged model ({merge.base_form} base, {merge.dtype}): {result.merged_dir}; equivalence "
                      f"{'passed' if merge.passed else 'FAILED' if merge.passed is False else 'not checked'}", highlight=False)
        for c in merge.comparisons:
            same_sql = "logits only" if c.sql_agreement is None else f"identical SQL {c.sql_agreement:.0%}"
            console.print(f"  {c.model} vs {c.reference}: {same_sql}, "
                          f"logits max |diff| {c.logits.max_abs:.3g}, mean {c.logits.mean_abs:.3g}", highlight=False)
    console.print(Path(result.report_paths.markdown).read_text(), highlight=False, markup=False)
    console.print(f"report: {result.report_paths.html}", highlight=False)
    if result.stage_s:
        console.print("measured: " + ", ".join(f"{k} {v / 60:.1f} min" for k, v in result.stage_s.items()), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
