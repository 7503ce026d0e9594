"""sqltune: fine-tune a general LLM into a text-to-SQL model for one warehouse (QLoRA)."""

__version__ = "0.1.0"
