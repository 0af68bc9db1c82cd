"""gloria.synthetic: a procedural character world with exact ground truth (see docs/synthetic.md).

Characters with four different torso sides, 8 facial expressions and an audio-driven mouth, in
random scenes, following timed scripts (turn around, face left, talk, change expression, walk).
"""
from .audio import SAMPLE_RATE, frame_rms, synthesize
from .character import SIDE_ORDER, Character, Scene
from .render import State, render_frame, viewpoint_of_yaw, wrap_yaw
from .script import Action, Script, random_script, turn_around_script
from .world import RenderedVideo, anchors, render_video

__all__ = [
    "SAMPLE_RATE", "SIDE_ORDER", "Action", "Character", "RenderedVideo", "Scene", "Script", "State",
    "anchors", "frame_rms", "random_script", "render_frame", "render_video", "synthesize",
    "turn_around_script", "viewpoint_of_yaw", "wrap_yaw",
]
