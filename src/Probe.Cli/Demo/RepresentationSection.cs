using System.Diagnostics;
using Probe.Analysis;
using Probe.Capture;
using Probe.Reporting;
using Probe.Reporting.Sections;

namespace Probe.Cli.Demo;

/// <summary>
/// Representation quality of the main run: separability and linear-probe accuracy per layer at a few checkpoints
/// (same samples and the run's own train/test split for all), the two versus-depth figures and the final per-layer table.
/// </summary>
internal static class RepresentationSection
{
    public const string Name = "Representation quality";

    public static void Add(DemoContext ctx)
    {
        var sw = Stopwatch.StartNew();
        var run = ctx.Run;
        int final = run.Checkpoints[^1].Epoch;
        int[] wanted = ctx.Quick ? [0, 1, final] : [0, 1, 2, 5, final];
        var epochs = wanted.Where(e => run.Checkpoints.Any(c => c.Epoch == e)).Distinct().Order().ToArray();
        var study = new RepresentationStudy(new LayerSelector("type:ReLU,fc4"), MapReduction.Mean, MaxSamples: ctx.Quick ? 600 : 1000, Seed: ctx.Seed);
        var report = study.Run(run, ctx.Data, epochs);
        var last = report.Checkpoints[^1];

        ctx.Report.AddText(Name, $"Is the representation the bottleneck, or the final layer? Each layer's activations of {report.SampleIndices.Length} digits " +
            "(the same samples at every checkpoint) get a class-separability ratio (between- over within-class scatter) and a linear probe " +
            "(multinomial logistic regression, ML.NET L-BFGS, L2 as scikit-learn's C = 1, standardized features) trained on the run's " +
            "training rows and scored on its test rows.");
        ctx.Report.AddFigure(Name, "probe-accuracy-vs-depth", RepresentationFigures.ProbeAccuracyVersusDepth(report.Checkpoints),
            "Linear-probe test accuracy per layer, one line per checkpoint (dark = early, light = late).");
        ctx.Report.AddFigure(Name, "separability-vs-depth", RepresentationFigures.SeparabilityVersusDepth(report.Checkpoints),
            "Separability ratio per layer, one line per checkpoint: training pulls the classes apart layer by layer.");
        ctx.Report.AddTable(Name, $"Per-layer quality at the final checkpoint (epoch {final})", RepresentationFigures.TableHeaders,
            RepresentationFigures.TableRows(last.Layers));
        foreach (var w in report.Warnings) ctx.Report.AddText(Name, "Warning: " + w.Message);
        ctx.Report.AddJson(Name, "representation", report);
        ctx.Log.WriteLine($"Representation quality: {epochs.Length} checkpoints x {last.Layers.Length} layers in {sw.Elapsed.TotalSeconds:F1} s.");
    }
}
