"""`av-pose models [NAME]`: the shipped pose estimators by name, with their model cards."""
from __future__ import annotations

import argparse
from pathlib import Path

CARD_PREVIEW_LINES = 6


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `models` subcommand."""
    parser = subparsers.add_parser(
        'models', help='list the shipped pose estimators (names for --model) and their model cards',
        description='List the pose estimators that ship with av_pose. Every option that takes a model '
        '(`av-pose eval --model`, the pose node\'s `model` parameter) accepts one of these names or a path to '
        'a checkpoint.')
    parser.add_argument('name', nargs='?', help='show this model\'s whole card instead of the list')
    parser.add_argument('--json', action='store_true',
                        help='print [{"name", "summary", "card"}] as JSON (card = its path or null)')
    parser.set_defaults(func=run)


def card_path(entry) -> Path | None:
    """The model card of a registry entry: its `card` attribute (relative to the av_pose package), if the file exists.

    Entries without a `card` attribute (the weight-free estimators) have none.
    """
    import av_pose

    card = getattr(entry, 'card', None)
    if not card:
        return None
    path = Path(card)
    path = path if path.is_absolute() else Path(av_pose.__file__).parent / path
    return path if path.is_file() else None


def run(args: argparse.Namespace) -> int:
    """Execute `av-pose models`."""
    import json

    from av_pose.errors import UserInputError
    from av_pose.pose.registry import ESTIMATORS

    if args.name is not None:
        if args.name not in ESTIMATORS:
            raise UserInputError(f'unknown model {args.name!r}: choose from {", ".join(sorted(ESTIMATORS))}')
        card = card_path(ESTIMATORS[args.name])
        print(f'{args.name}: {ESTIMATORS[args.name].summary}')
        print(card.read_text(encoding='utf-8').rstrip() if card else '(no model card: this estimator has no weights)')
        return 0
    if args.json:
        print(json.dumps([{'name': name, 'summary': entry.summary,
                           'card': str(card_path(entry)) if card_path(entry) else None}
                          for name, entry in ESTIMATORS.items()], indent=1))
        return 0
    width = max(len(name) for name in ESTIMATORS)
    for name, entry in ESTIMATORS.items():
        print(f'{name:<{width}}  {entry.summary}')
        card = card_path(entry)
        if card is not None:
            lines = [line for line in card.read_text(encoding='utf-8').splitlines() if line.strip()]
            for line in lines[:CARD_PREVIEW_LINES]:
                print(f'{"":<{width}}    {line}')
            if len(lines) > CARD_PREVIEW_LINES:
                print(f'{"":<{width}}    ... (av-pose models {name} shows the whole card)')
    print('\n--model also takes a path to a checkpoint file or folder.')
    return 0
