"""Training and measuring the audio encoder: contrastive training into frozen CLIP, zero-shot and linear-probe evaluation.

Everything here runs on the app's own audio front end (``engine.audio``) and encoder (``engine.audio_encoder``),
so a trained encoder hears a sound in the app exactly as it heard it in training.
"""
