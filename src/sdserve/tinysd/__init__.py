"""A tiny Stable Diffusion trained from scratch on synthetic captioned shapes (issue 9)."""
