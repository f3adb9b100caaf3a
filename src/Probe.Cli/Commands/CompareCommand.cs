using System.CommandLine;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe compare</c>: <c>probe similarity</c> with <c>--measure</c> defaulting to cka (see <see cref="SimilarityCommand"/>),
/// usually in its two-model modes: two checkpoints of one run (<c>--run DIR --epochs 0,final</c>), the final (or chosen)
/// checkpoints of two runs (<c>--run DIR --run-b DIR2</c>, e.g. two seeds), or two spec + weights pairs
/// (<c>--model-a .. --weights-a .. --weights-b ..</c>). Writes compare.json and compare.png/.svg with --out.
/// </summary>
internal static class CompareCommand
{
    public static Command Create(CliContext ctx) => SimilarityCommand.Build(ctx, SimilarityCommand.Flavour.Compare);
}
