"""Prompt templates. The default is the paper's "prompt LLMs with value description to
answer questions" template (appendix A), kept word for word so that results stay comparable
with the paper's."""

from __future__ import annotations

VALUE_QUESTION = (
    "You will find a value description followed by a question below. I want you to forget "
    "who you are and fully immerse yourself in the value described, adopting not only their "
    "perspective but also their tone and attitude. With this new identity in mind, please "
    "respond to the question.\n\n"
    "Don't overthink your response\u2014just begin writing and let your thoughts flow "
    "naturally. Spelling and grammar are not important here; what's essential is capturing "
    "the essence of this value in your answer. Try to keep your response under 300 words.\n\n"
    "Value description: {description}\n\n"
    "Question: {question}\n\n"
    "Response:"
)

ANSWER_QUESTION = (
    "Imagine you are a real person rather than a language model, and you're asked by the "
    "following question. Write your response based on your authentic thoughts and emotions.\n\n"
    "Do not overthink your answer\u2014let your thoughts flow naturally as you write. Focus on "
    "expressing your genuine feelings and reactions. Aim to write no more than 300 words.\n\n"
    "Question: {question}\n\n"
    "Response:"
)
"""The paper's "answer questions" template (appendix A): what edited models are asked."""

TEMPLATES: dict[str, str] = {"value-question": VALUE_QUESTION, "answer-question": ANSWER_QUESTION}
DEFAULT_TEMPLATE = "value-question"
