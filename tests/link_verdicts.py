"""One link verified twice — by its verifier contract on Anvil and by the Python twin in `opml.levels` — for the
link tests: both give (subStart, subContext) or both the same error name. `link_args` builds the honest arguments."""

from __future__ import annotations

from web3.exceptions import ContractLogicError

from opml.chain.tx import ErrorDecoder, revert_data
from opml.levels.links import LinkError


def link_args(context: bytes, level, index: int, sub) -> tuple:  # noqa: ANN001
    """verifyLink's claim (its `Link` argument) for transition `index` of `level` opened into its sub-level `sub`:
    (context, index, S_index, S_index+1, the sub-level's end root, the sub-level's length)."""
    return context, index, level.root_at(index), level.root_at(index + 1), sub.root_at(sub.length), sub.length


def on_chain(contract, errors: ErrorDecoder, args: tuple) -> tuple[bytes, bytes] | str:  # noqa: ANN001
    """(subStart, subContext) from the contract, or the name of the error it reverted with."""
    try:
        start, context = contract.functions.verifyLink(args[:6], args[6]).call()
        return bytes(start), bytes(context)
    except ContractLogicError as exc:
        return errors.decode(revert_data(exc) or b"").name


def in_python(proof, args: tuple) -> tuple[bytes, bytes] | str:  # noqa: ANN001
    context, index, pre, post, end, length = args[:6]
    try:
        return proof.verify(context, index, pre, post, end, length)
    except LinkError as exc:
        return exc.name


def both(contract, errors, proof, args) -> tuple:  # noqa: ANN001
    """The contract's and Python's verdicts on the same link (args without the proof bytes)."""
    return on_chain(contract, errors, (*args, proof.encode())), in_python(proof, args)
