"""The main job's wiring on a tiny model: train -> merge -> evaluate three forms -> one report."""

from __future__ import annotations

import dataclasses

import json
import math
from pathlib import Path

import pytest

from sqltune.evaluation.harness import EvalConfig, spread_subset
from sqltune.inference.generate import DecodeConfig
from sqltune.pipeline import PipelineConfig, recipe_path, run_pipeline
from sqltune.training.train import LoraSettings, TrainConfig

REPO = Path(__file__).resolve().parent.parent


def test_spread_subset_covers_the_whole_file():
    items = list(range(100))
    assert spread_subset(items, None) == items
    assert spread_subset(items, 500) == items
    assert spread_subset(items, 4) == [0, 25, 50, 75]


def test_shipped_recipe_loads():
    from sqltune.core.config import load_yaml

    config = load_yaml(PipelineConfig, recipe_path("harbor-cpu"))
    assert config.train.method == "qlora" and config.train.lora.r == 16
    assert config.train.quant.quant_type == "nf4" and config.train.quant.double_quant
    assert config.train.time_budget == "15m" and config.train.max_steps == -1 and config.eval_budget
    assert config.train.cache_lower_layers and config.train.lora.top_layers == 8 and config.train.num_epochs == 2
    assert config.train.fit_pairs_to_budget  # its generated corpus: two passes over as many pairs as fit


def test_own_warehouse_recipe_loads_and_keeps_every_pair():
    """warehouse-cpu, the recipe the README's own-warehouse path trains with (`sqltune train warehouse-cpu`)."""
    from sqltune.cli.train import load_train_config
    from sqltune.core.config import load_yaml

    config = load_yaml(PipelineConfig, recipe_path("warehouse-cpu"))
    train = config.train
    assert train.time_budget == "15m" and not train.fit_pairs_to_budget and train.num_epochs > 2
    assert train.prompt.examples == 1 and train.prompt.example_retrieval == "bm25"
    assert train.eval_fraction > 0
    assert load_train_config("warehouse-cpu", {}).prompt.examples == 1  # what `sqltune train warehouse-cpu` reads
    assert (REPO / "README.md").read_text().count("sqltune train warehouse-cpu") >= 1


def test_job_plan_names_every_stage_with_minutes(default_checkpoint):
    from sqltune.core.config import load_yaml
    from sqltune.pipeline.run import plan_job

    config = load_yaml(PipelineConfig, recipe_path("harbor-cpu"))
    config.eval.data = None  # not built here: the plan sizes evaluations from eval.limit and eval_budget
    job = plan_job(config)
    names = [s.name for s in job.stages]
    assert names == ["training", "merge", "learning curve", "eval prompt-only", "eval qlora-adapter", "eval merged"]
    assert f"{config.train.budget_evals} adapter snapshots x {config.curve_questions} questions" in job.stages[2].note
    assert job.stages[0].expected_s == 900 and "passes" in job.stages[0].note
    assert all(s.expected_s > 0 for s in job.stages)
    assert job.total_s == sum(s.expected_s for s in job.stages)
    assert "whole job" in job.lines()[-1]
    assert job.gflops["choice"] in ("bfloat16", "float32")
    decode = config.eval.decode  # the shipped decoding tops up: each eval form states that bound
    assert decode.topup_candidates and f"all {decode.topup_candidates} top-up candidates" in job.stages[3].note


def test_pipeline_runs_end_to_end(tmp_path, tiny_model_dir, tiny_warehouse, tiny_pairs_file):
    events = []
    config = PipelineConfig(
        out_dir=str(tmp_path / "run"),
        train=TrainConfig(
            base=str(tiny_model_dir), train_file=str(tiny_pairs_file), db=str(tiny_warehouse), time_budget="2m",
            max_steps=2, batch_size=4, eval_fraction=0.2, register=False, lora=LoraSettings(r=4, alpha=8, dropout=0.0),
        ),
        eval=EvalConfig(data=str(tiny_pairs_file), limit=3, decode=DecodeConfig(max_new_tokens=6, batch_size=2), spot_checks=True),
        eval_budget="10m", curve_questions=3,
    )
    result = run_pipeline(config, on_event=lambda stage, info: events.append(stage))
    # the budget's plan and the sized evaluation: a plan was said before the job, measured after
    assert result.train_record["budget_plan"]["max_steps"] == result.train_record["steps"] == 2
    assert result.job_plan.stages[0].name == "training" and {"train", "merge", "evaluate"} <= set(result.stage_s)
    job = json.loads((result.out_dir / "job.json").read_text())
    assert job["plan"]["stages"] and job["measured_s"]["evaluate"] > 0
    assert {"plan", "eval-plan"} <= set(events)
    assert result.train_record["learning_curve"]
    # the learning curve: the adapter saved at each held-out evaluation, scored after training
    curve = job["learning_curve"]
    assert curve and "learning-curve" in result.stage_s and "curve-scored" in events
    assert [p["step"] for p in curve] == [p["step"] for p in result.train_record["learning_curve"]]
    for point in curve:
        assert 0.0 <= point["execution_accuracy"] <= 1.0 and point["ex_questions"] == 3  # every tiny pair
        assert (tmp_path / "run" / "adapter" / "curve" / f"step-{point['step']}" / "sqltune_adapter.json").exists()
    assert "Learning curve: held-out loss and execution accuracy" in result.report_paths.html.read_text()
    labels = [r.label for r in result.reports]
    assert labels == ["prompt-only", "qlora-adapter", "merged"]
    assert all(r.n == 3 for r in result.reports)
    assert (result.merged_dir / "config.json").exists() and (result.adapter_dir / "adapter_config.json").exists()
    assert result.merge_result.comparisons
    data = json.loads(result.report_paths.json.read_text())
    assert [r["label"] for r in data["reports"]] == labels
    assert {"train", "trained", "merge", "evaluate"} <= set(events) and "fixture" not in events  # no fixture named


def test_a_timed_batch_that_is_the_whole_evaluation_is_not_answered_again(monkeypatch, tmp_path, tiny_model_dir,
                                                                          tiny_warehouse, tiny_pairs_file):
    """size_evaluation hands its report on when the budget leaves one batch (the same questions);
    evaluate_forms takes a form's report from `evaluated_before` instead of answering again."""
    from types import SimpleNamespace

    import sqltune.pipeline.run as run_module
    from sqltune.evaluation.harness import ModelForm, evaluate_forms

    probe_report = SimpleNamespace(n=2, label="qlora-adapter")
    clock = iter(range(0, 10_000, 100))  # every batch "takes" 100 s
    monkeypatch.setattr(run_module.time, "time", lambda: next(clock))
    monkeypatch.setattr(run_module, "evaluate_forms", lambda forms, cfg, out_dir=None, **kw: ([probe_report], None))
    config = PipelineConfig(eval=EvalConfig(data=str(tiny_pairs_file), limit=None, decode=DecodeConfig(batch_size=2)),
                            eval_budget="1m")
    form = ModelForm("qlora-adapter", base=str(tiny_model_dir))
    sizing = run_module.size_evaluation(config, form)
    assert sizing["limit"] == 2 and sizing["evaluated"] == {"qlora-adapter": probe_report}
    config = PipelineConfig(eval=EvalConfig(data=str(tiny_pairs_file), limit=None, decode=DecodeConfig(batch_size=2)),
                            eval_budget="10h")
    assert run_module.size_evaluation(config, form)["evaluated"] == {}
    # a budget that fits 3 questions per form (50 s each, 3 forms, after the timed batch's 200 s on
    # this clock), more than one batch of 2 but not two: the timed batch is the evaluation
    config = PipelineConfig(eval=EvalConfig(data=str(tiny_pairs_file), limit=None, decode=DecodeConfig(batch_size=2)),
                            eval_budget="700s")
    sizing = run_module.size_evaluation(config, form)
    assert sizing["limit"] == 2 and sizing["evaluated"] == {"qlora-adapter": probe_report}
    monkeypatch.undo()  # the real clock and evaluate_forms again

    answered, loaded = [], []
    import sqltune.evaluation.scoring as scoring
    import sqltune.inference.generate as generate

    real = scoring.evaluate_model
    monkeypatch.setattr(scoring, "evaluate_model", lambda *a, **k: answered.append(a[0].label) or real(*a, **k))
    real_load = generate.load_sql_model
    monkeypatch.setattr(generate, "load_sql_model", lambda *a, **k: loaded.append(k["label"]) or real_load(*a, **k))
    eval_config = EvalConfig(data=str(tiny_pairs_file), db=str(tiny_warehouse), limit=2, spot_checks=False, register=False,
                             decode=DecodeConfig.greedy(max_new_tokens=4, batch_size=2))
    forms = [ModelForm("prompt-only", base=str(tiny_model_dir)), form]
    reports, _ = evaluate_forms(forms, eval_config, evaluated_before={"qlora-adapter": probe_report})
    assert answered == ["prompt-only"] and reports[1] is probe_report
    assert loaded == ["prompt-only"]  # no spot checks: the reused form's model is not even loaded


def test_forms_compared_with_the_base_answer_after_the_same_prefix(monkeypatch, tiny_warehouse, tiny_pairs_file):
    """The prompt-only base is handed `SELECT`; every form compared with it gets the same by default,
    so an under-trained adapter is not scored as a regression for lacking a prefix the base was given."""
    from types import SimpleNamespace

    import sqltune.evaluation.scoring as scoring
    import sqltune.inference.generate as generate
    from sqltune.evaluation.harness import ModelForm, evaluate_forms

    answered: dict[str, tuple[str, tuple]] = {}

    def fake_model(*args, **kwargs):
        return SimpleNamespace(label=kwargs["label"], decode=kwargs["decode"])

    def fake_evaluate(sql_model, pairs, warehouse, **kwargs):
        answered[sql_model.label] = (sql_model.decode.answer_prefix, tuple(sql_model.decode.stop_strings))
        return SimpleNamespace(label=sql_model.label, setup={})

    monkeypatch.setattr(generate, "load_sql_model", fake_model)
    monkeypatch.setattr(scoring, "evaluate_model", fake_evaluate)
    config = EvalConfig(data=str(tiny_pairs_file), db=str(tiny_warehouse), limit=2, spot_checks=False, register=False)
    base, adapter, merged = (ModelForm("prompt-only"), ModelForm("adapter", adapter="runs/a", quantized=True),
                             ModelForm("merged", merged="runs/m"))
    reports, _ = evaluate_forms([base, adapter, merged], config)
    assert {label: prefix for label, (prefix, _) in answered.items()} == {"prompt-only": "SELECT", "adapter": "SELECT",
                                                                           "merged": "SELECT"}
    assert len({stops for _, stops in answered.values()}) == 1  # and stop alike
    assert [r.setup["answer_prefix"] for r in reports] == ["SELECT"] * 3  # recorded with each score
    answered.clear()
    evaluate_forms([adapter], config)  # no base compared: the adapter answers as it is served
    assert answered["adapter"][0] == ""
    evaluate_forms([adapter], config, compared_with=[base, adapter])  # a part of a comparison with the base
    assert answered["adapter"][0] == "SELECT"
    from sqltune.evaluation.harness import answer_prefix

    off = dataclasses.replace(config, same_answer_prefix=False)
    assert [answer_prefix(f, [base, adapter], off) for f in (base, adapter)] == ["SELECT", ""]


@pytest.mark.parametrize("budget,epochs", [(None, 2.0), ("15m", 2.0), ("1m", 8.0)])
def test_job_plan_predicts_the_minutes_a_run_at_its_rates_takes(monkeypatch, tiny_model_dir, tiny_warehouse,
                                                                 tiny_pairs_file, budget, epochs):
    """Issue 28: the plan's training and evaluation minutes within 25% of what a run at the rates
    the plan measures (matmul GFLOP/s, decoding's prefill and per-token seconds; injected here)
    takes: the pairs train() tokenizes, batched by length and padded, for the steps its cap (the
    --epochs passes) allows, or the budget when that ends first; each form's model loaded, then
    its questions answered in batches of similar prompts, each as long as its longest SQL."""
    import sqltune.inference.models as models
    from sqltune.data import load_pairs
    from sqltune.inference.models import DtypeProbe, load_tokenizer
    from sqltune.pipeline.run import MODEL_LOAD_S, TRAIN_EFFICIENCY, plan_job
    from sqltune.prompts import prompt_for_warehouse
    from sqltune.schema import load_schema
    from sqltune.training.budget import parse_duration, prior_tokens_per_s
    from sqltune.training.examples import batch_multiple, padded_length
    from sqltune.training.plan import load_model_config, model_shape
    from sqltune.training.train import _steps_cap, build_datasets

    gflops, prefill_s, token_s = 0.1, 2.0, 0.2
    probe = DtypeProbe("bfloat16", {"float32": gflops, "bfloat16": gflops, "float16": gflops}, {}, (1, 1, 1), 2)
    monkeypatch.setattr(models, "dtype_probe", lambda refresh=False: probe)
    monkeypatch.setattr(models, "measure_decoding", lambda *a, **k: (prefill_s, token_s))
    train = TrainConfig(base=str(tiny_model_dir), train_file=str(tiny_pairs_file), db=str(tiny_warehouse),
                        time_budget=budget, num_epochs=epochs, batch_size=4, lora=LoraSettings(r=4, alpha=8))
    config = PipelineConfig(train=train, eval=EvalConfig(data=str(tiny_pairs_file), limit=10,
                                                         decode=DecodeConfig.greedy(batch_size=4)),
                            merge=False, curve_questions=0)
    pairs = list(load_pairs(tiny_pairs_file))
    job = plan_job(config, pairs)
    planned = {stage.name: stage.expected_s for stage in job.stages}

    # training as train() runs it, each step at the tokens/s the probe's GFLOP/s give a LoRA step
    tokenizer = load_tokenizer(str(tiny_model_dir))
    run_config = dataclasses.replace(train, prompt=prompt_for_warehouse(train.prompt, str(tiny_warehouse)))
    data = build_datasets(run_config, tokenizer, load_schema(str(tiny_warehouse)), pairs)
    shape = model_shape(load_model_config(str(tiny_model_dir)))
    tokens_per_s = prior_tokens_per_s(body_params=shape.total_params - shape.vocab_size * shape.hidden_size,
                                      gflops=gflops, efficiency=TRAIN_EFFICIENCY)
    lengths = sorted(data.train["length"], reverse=True)  # group_by_length: batches of similar length
    multiple = batch_multiple(train.pad_to_multiple_of, 2)
    batches = [lengths[i:i + 4] for i in range(0, len(lengths), 4)]
    steps = _steps_cap(run_config, len(lengths))
    tokens = sum(len(b) * padded_length(max(b), multiple) for b in (batches * math.ceil(steps / len(batches)))[:steps])
    trained_s = MODEL_LOAD_S + tokens / tokens_per_s
    if budget is not None:
        trained_s = min(trained_s, parse_duration(budget))  # the planner ends it inside the budget
    assert abs(planned["training"] - trained_s) <= 0.25 * trained_s, (job.lines(), trained_s)

    # each form: its model loaded, then its questions (the file's spread subset) in batches
    questions = spread_subset(pairs, 10)
    questions.sort(key=lambda p: len(p.question))
    sql_tokens = [len(tokenizer(p.sql, add_special_tokens=False)["input_ids"]) + 1 for p in questions]
    answered_s = MODEL_LOAD_S + sum(prefill_s + max(sql_tokens[i:i + 4]) * token_s for i in range(0, len(sql_tokens), 4))
    for form in ("prompt-only", "qlora-adapter"):
        assert abs(planned[f"eval {form}"] - answered_s) <= 0.25 * answered_s, (job.lines(), answered_s)


def test_the_eval_plan_predicts_the_evaluation_it_sizes(monkeypatch, tmp_path):
    """`sqltune run`'s "eval plan: ... ~N min" (issue 28): the timed batch's report gives the answers'
    seconds a question; loading the model is paid once a form, not once a question. On a fake clock
    where a form loads in 10 s and answers one question a second, one at a time (a CPU with prompt
    lookup), the predicted minutes are within 25% of those of the evaluation it sized, and that
    evaluation uses the budget (main read 8 timed questions as 2.25 s each: ~8 min said, ~4 taken)."""
    from types import SimpleNamespace

    import sqltune.pipeline.run as run_module
    from sqltune.evaluation.harness import ModelForm

    load_s, answer_s = 10.0, 1.0
    now = [0.0]
    monkeypatch.setattr(run_module.time, "time", lambda: now[0])

    def evaluate(forms, cfg, out_dir=None, **kw):  # a form: its model loaded, then its questions answered
        now[0] += load_s + cfg.limit * answer_s
        return [SimpleNamespace(n=cfg.limit, label=forms[0].label, mean_latency_s=answer_s)], None

    monkeypatch.setattr(run_module, "evaluate_forms", evaluate)
    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join(json.dumps({"question": f"q{i}", "sql": "SELECT 1"}) + "\n" for i in range(1000)))
    config = PipelineConfig(eval=EvalConfig(data=str(questions), limit=None, decode=DecodeConfig(batch_size=1)),
                            eval_budget="8m")
    sizing = run_module.size_evaluation(config, ModelForm("qlora-adapter", base="unused"))
    taken_s = sizing["forms"] * (load_s + sizing["limit"] * answer_s)  # the evaluation it sized, at these rates
    assert abs(sizing["expected_s"] - taken_s) <= 0.25 * taken_s, (sizing, taken_s)
    left_s = 480 - (load_s + run_module.PROBE_QUESTIONS * answer_s)  # the budget after the timed questions
    assert 0.75 * left_s <= taken_s <= left_s, (sizing, taken_s)
