"""Learner-response data: the validated `Responses` table, readers, splits, the simulator, and the on-disk
`ResponseCache` for logs larger than memory."""

from metatutor.data.cache import ResponseCache
from metatutor.data.folders import DatasetFolder
from metatutor.data.readers import FORMATS, read_responses
from metatutor.data.responses import Responses
from metatutor.data.splits import Split, holdout_split, kfold_splits

__all__ = ["FORMATS", "DatasetFolder", "ResponseCache", "Responses", "Split", "holdout_split", "kfold_splits",
           "read_responses"]
