"""Handing a trained adapter to another server: `vllm` checks that vLLM's LoRA loader takes it and
writes the `vllm serve` command that serves it."""

from sqltune.export.vllm import VllmExport, VllmExportConfig, Unsuitable, check_for_vllm, write_script

__all__ = ["Unsuitable", "VllmExport", "VllmExportConfig", "check_for_vllm", "write_script"]
