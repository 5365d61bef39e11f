"""What dff writes: the output policy (outputs.py: nothing replaced without --overwrite, never an
input, only what dff wrote), publishing a file or folder atomically (publish.py), and the video
and label-PNG writers built on them."""
