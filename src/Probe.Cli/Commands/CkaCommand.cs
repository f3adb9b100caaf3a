using System.CommandLine;
using Probe.Reporting;
using Probe.Similarity;

namespace Probe.Cli.Commands;

/// <summary>
/// <c>probe cka</c>: <c>probe similarity</c> with <c>--measure cka</c> preset (see <see cref="SimilarityCommand"/>), keeping
/// CKA's options: <c>--kernel linear|rbf</c>, <c>--sigma-frac</c>, <c>--debiased</c>, <c>--batch</c> (two matrices),
/// <c>--method auto|full|minibatch</c> and <c>--shard</c> (layer modes). Writes cka.json and cka.png/.svg with --out.
/// </summary>
internal static class CkaCommand
{
    public static Command Create(CliContext ctx) => SimilarityCommand.Build(ctx, SimilarityCommand.Flavour.Cka);
}

/// <summary>How a CKA layer table (e.g. merged minibatch shards) is printed and written: as any similarity table.</summary>
internal static class CkaOptions
{
    /// <summary>Prints the table (or JSON when <paramref name="json"/>) and, with an output folder, writes STEM.json and the heatmap.</summary>
    public static void Write(CliContext ctx, CkaStudyResult result, string? outDir, bool json, string stem, string rowTitle, string colTitle, FigureSettings? figures = null)
    {
        var t = result.Table;
        var table = new SimilarityTable(t.Measure, t.RowLayers, t.ColLayers, t.Values, 0, 1);
        var r = new SimilarityStudyResult(table, "cka", result.Method.ToString().ToLowerInvariant(), result.Samples, result.Data, result.RowModel, result.ColumnModel);
        SimilarityCommand.Write(ctx, r, outDir, json, stem, rowTitle, colTitle, figures);
    }
}
