from .compose import compose, conf_dir, group_options

__all__ = ["compose", "conf_dir", "group_options"]
