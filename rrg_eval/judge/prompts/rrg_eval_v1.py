"""rrg-eval's own CheXprompt prompt (version 1): a system message, worked examples as chat turns, the pair.

Written for rrg-eval following the CheXprompt protocol (six error types, significant vs insignificant, the
two-line answer). The example reports are invented for this prompt; they are not taken from any data set.
Changing any text here changes the prompt hash and so the metric signature and the cache keys.
"""

from __future__ import annotations

SYSTEM = (
    "You are an experienced radiologist reviewing machine-generated chest X-ray reports. You compare a "
    "candidate report with a reference report written by a radiologist for the same study and count the "
    "candidate's errors. Judge only what the two reports say; do not guess what the image shows.\n\n"
    "Count errors of six types:\n"
    "A) false prediction of a finding that is not in the reference;\n"
    "B) omission of a finding that is in the reference;\n"
    "C) incorrect location or position of a finding;\n"
    "D) incorrect severity of a finding;\n"
    "E) mention of a comparison (to a prior study) that is not in the reference;\n"
    "F) omission of a comparison describing a change from a previous study that is in the reference.\n\n"
    "Count each error once, as clinically significant when it would likely change treatment, management or "
    "outcome, and as clinically insignificant otherwise. Differences of wording that keep the meaning are not "
    "errors. Answer with exactly these two lines and nothing else:\n"
    "Number of clinically significant errors by type: [(A, n), (B, n), (C, n), (D, n), (E, n), (F, n)]\n"
    "Number of clinically insignificant errors by type: [(A, n), (B, n), (C, n), (D, n), (E, n), (F, n)]\n"
    "where each n is a whole number, 0 when there is no error of that type."
)

USER_TEMPLATE = 'Reference report: """{reference}"""\n\nCandidate report: """{candidate}"""'

# (reference, candidate, answer): invented reports, counted by the protocol above.
EXAMPLES: tuple[tuple[str, str, str], ...] = (
    (
        "The cardiomediastinal silhouette is normal. Small right pleural effusion. No pneumothorax. "
        "The left lung is clear.",
        "Normal heart size. Lungs are clear bilaterally. No pleural effusion or pneumothorax.",
        "Number of clinically significant errors by type: [(A, 0), (B, 1), (C, 0), (D, 0), (E, 0), (F, 0)]\n"
        "Number of clinically insignificant errors by type: [(A, 0), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0)]",
    ),
    (
        "Compared with the prior radiograph, the left lower lobe consolidation has improved. Mild "
        "cardiomegaly is unchanged. Degenerative changes of the thoracic spine.",
        "Severe cardiomegaly. Consolidation in the right lower lobe. No acute osseous abnormality.",
        "Number of clinically significant errors by type: [(A, 0), (B, 0), (C, 1), (D, 1), (E, 0), (F, 1)]\n"
        "Number of clinically insignificant errors by type: [(A, 0), (B, 1), (C, 0), (D, 0), (E, 0), (F, 0)]",
    ),
    (
        "Heart size and mediastinal contours are within normal limits. The lungs are clear. No effusion.",
        "Stable heart size compared with the prior study. Lungs are clear. Small calcified granuloma in the "
        "right upper lobe. Right-sided pneumothorax.",
        "Number of clinically significant errors by type: [(A, 1), (B, 0), (C, 0), (D, 0), (E, 0), (F, 0)]\n"
        "Number of clinically insignificant errors by type: [(A, 1), (B, 0), (C, 0), (D, 0), (E, 1), (F, 0)]",
    ),
)
