"""The reference generator: image encoder -> mapping network -> causal LM (LoRA), two-stage fine-tuning.

Modules: ``config`` (the YAML schema), ``data`` (images, stitching, tokenisation), ``model`` (the network),
``train`` (fine-tuning, checkpoints, resume, best-by-metric), ``generate`` (greedy / beam search with
confidence), ``embed`` (image embeddings for the ``nearest`` baseline). Importing this package imports no torch.
"""
