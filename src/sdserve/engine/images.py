"""Preparing img2img inputs as A1111 does: resize modes, masks, and the final overlay."""

from __future__ import annotations

from PIL import Image, ImageFilter, ImageOps

JUST_RESIZE, CROP_AND_RESIZE, RESIZE_AND_FILL, LATENT_UPSCALE = 0, 1, 2, 3


def resize(image: Image.Image, width: int, height: int, mode: int) -> Image.Image:
    """A1111's resize_mode; latent upscale has no latent step here, so it resizes too."""
    if mode == CROP_AND_RESIZE:
        return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)
    if mode == RESIZE_AND_FILL:
        # Fit inside, then fill the borders with the stretched picture rather than black.
        filled = image.resize((width, height), Image.Resampling.LANCZOS)
        fitted = ImageOps.contain(image, (width, height), Image.Resampling.LANCZOS)
        offset = ((width - fitted.width) // 2, (height - fitted.height) // 2)
        filled.paste(fitted, offset)
        return filled
    return image.resize((width, height), Image.Resampling.LANCZOS)


def prepare_init_image(image: Image.Image, width: int, height: int, mode: int) -> Image.Image:
    return resize(image.convert("RGB"), width, height, mode)


def prepare_mask(
    mask: Image.Image, width: int, height: int, mode: int, blur: int, invert: bool
) -> Image.Image:
    """White = repaint. Returns the blurred "L" mask used both to sample and to overlay."""
    gray = resize(mask.convert("L"), width, height, mode)
    if invert:
        gray = ImageOps.invert(gray)
    if blur > 0:
        gray = gray.filter(ImageFilter.GaussianBlur(blur))
    return gray


def overlay(generated: Image.Image, original: Image.Image, mask: Image.Image) -> Image.Image:
    """Keep the original pixels outside the mask, as the webui's inpainting overlay does."""
    return Image.composite(generated.convert("RGB"), original, mask)
