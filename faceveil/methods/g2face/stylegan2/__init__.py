"""StyleGAN2 building blocks in pure PyTorch (no compiled extensions), layout-compatible with
rosinality's stylegan2-pytorch so its checkpoints load unchanged."""
