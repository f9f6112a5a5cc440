"""Deep generative prior: restore and manipulate images by fitting a pretrained GAN to them."""
