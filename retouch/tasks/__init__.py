"""What a user asks for, one verb a module: hide, restore, upscale, apply (translate), pairs.

A task takes frames as tensors and does not know whether they came from a photo or a film."""
