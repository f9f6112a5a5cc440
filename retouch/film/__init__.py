"""Per-film state, in one place every film verb uses: what lives from one frame to the next.

`tracks`: where to act in each frame (given boxes, masks, followed boxes, faces and existing
mosaics found and joined into tracks, listed boxes). `cuts`: where a shot ends, so that nothing
tracks or blends across it. `temporal`: blending a restored region with the previous frame's,
aligned by the camera's motion, where the frame's own cell colours confirm it. Decoding and
encoding films is `retouch.video`'s job; a verb hands it a frame function and a region source
from here.
"""
