using System.Diagnostics;
using Probe.Projection;
using Probe.Reporting;
using Probe.Reporting.Sections;

namespace Probe.Cli.Demo;

/// <summary>
/// The layer-evolution figures of the main run: a PCA grid (checkpoints 0, 1, 2, 5 and the last; hidden layers and the
/// output; 500 samples, Procrustes-aligned down each column) and a t-SNE of the input pixels beside the last hidden
/// layer at the final checkpoint.
/// </summary>
internal static class EvolutionSection
{
    public const string Name = "Layer evolution";

    public static void Add(DemoContext ctx)
    {
        var sw = Stopwatch.StartNew();
        var run = ctx.Run;
        var available = run.Checkpoints.Select(c => c.Epoch).ToArray();
        int last = available[^1];
        int[] epochs = new[] { 0, 1, 2, 5, last }.Where(available.Contains).Distinct().ToArray();
        string[] classes = EvolutionFigures.DefaultClassNames(10);
        int samples = ctx.Quick ? 300 : 500;

        var pca = new EvolutionStudy(Method: ProjectionMethod.Pca, MaxSamples: samples, Seed: ctx.Seed, Epochs: epochs).Run(run, ctx.Data);
        var grid = EvolutionFigures.Grid(pca, classes);
        ctx.Report.AddFigure(Name, "evolution-pca", grid.Model,
            $"The same {pca.SampleIndices.Length} digits (stratified sample) in every panel, coloured by class: rows are checkpoints, columns are layers (width in brackets), each panel the first two principal components of that layer's activations, rotated/reflected onto the panel above (orthogonal Procrustes) so motion between rows is change in the network. The classes pull apart as training proceeds, most in the later layers.",
            grid.Style);

        var last2 = run.Spec.LayerNames.Where(n => n.StartsWith(run.Spec.Activation, StringComparison.Ordinal)).ToArray();
        string lastHidden = last2.Length > 0 ? last2[^1] : run.Spec.LayerNames[^1];
        var tsne = new EvolutionStudy(Layers: lastHidden, Method: ProjectionMethod.Tsne, MaxSamples: samples, Seed: ctx.Seed,
            Epochs: [last], IncludeInput: true, TsneIterations: ctx.Quick ? 400 : 750).Run(run, ctx.Data);
        var tfig = EvolutionFigures.Grid(tsne, classes, basis: FigureStyle.Column with { WidthInches = 4.8 });
        ctx.Report.AddFigure(Name, "tsne-input-vs-last-hidden", tfig.Model,
            $"t-SNE (perplexity {tsne.Perplexity:0}) of the input pixels and of {lastHidden} at epoch {last}, same {tsne.SampleIndices.Length} digits. Trustworthiness (k = 10): input {tsne.Panels[0][0].Trustworthiness:0.000}, {lastHidden} {tsne.Panels[0][1].Trustworthiness:0.000}.",
            tfig.Style);

        ctx.Report.AddTable(Name, "Per panel: PCA explained variance of the first two components, t-SNE KL, trustworthiness (k = 10)",
            ["method", "epoch", "layer", "features", "PC1+PC2 variance", "KL", "trustworthiness"],
            pca.Panels.SelectMany(r => r).Concat(tsne.Panels.SelectMany(r => r)).Select(p => (IReadOnlyList<object?>)new object?[]
            {
                p.KlDivergence is null ? "pca" : "tsne", p.Epoch, p.Layer, p.Features,
                p.ExplainedVarianceRatio is { } v ? v[0] + v[1] : null, p.KlDivergence, p.Trustworthiness,
            }));
        ctx.Report.AddJson(Name, "evolution", new { pca.Epochs, pca.Layers, samples = pca.SampleIndices.Length, tsnePerplexity = tsne.Perplexity });
        ctx.Log.WriteLine($"Layer evolution: {pca.Epochs.Length} x {pca.Layers.Length} PCA panels and a t-SNE pair in {sw.Elapsed.TotalSeconds:F1} s");
    }
}
