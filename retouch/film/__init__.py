"""Per-film state, in one place every film verb uses: what lives from one frame to the next.

`tracks`: where to act in each frame (given boxes, masks, followed boxes, faces found and
tracked, listed boxes, detected mosaics smoothed over time). `temporal`: blending a restored
region with the previous frame's, aligned by the camera's motion. Decoding and encoding films is
`retouch.video`'s job; a verb hands it a frame function and a region source from here.
"""
