using Probe;
using Probe.Analysis;
using Probe.Data;
using Probe.Models;
using Probe.Projection;
using Probe.Reporting.Sections;

namespace Probe.Examples.CloudsAndCircles;

/// <summary>Settings: samples per data set, training epochs, which checkpoints to draw (null = a default handful), figure dpi.</summary>
public sealed record CloudsSettings(int Samples = 400, int Epochs = 40, double LearningRate = 0.02, int Seed = 0, int MaxRows = 5, double Dpi = 300);

/// <summary>Per data set: the figures written and the linear-probe accuracy of the 2-unit layer at each drawn epoch.</summary>
public sealed record CloudsDataResult(string Name, string EvolutionFigure, string GridWarpFigure, int[] Epochs, double[] TwoUnitProbeAccuracy, EvolutionResult Evolution);

/// <summary>The example's result: one entry per data set (Gaussian clouds, concentric circles).</summary>
public sealed record CloudsResult(CloudsDataResult[] DataSets);

/// <summary>
/// Two Gaussian clouds and two concentric circles, each learned by a small 2-D MLP (mlp:2-8-2-2:tanh) trained with a
/// checkpoint per epoch: the evolution grid (input, tanh1 (8 units, PCA), tanh2 (2 units), output) over training, and
/// the grid warp of the 2-unit layer: how it folds the plane until a line separates the classes.
/// </summary>
public static class CloudsAndCirclesExample
{
    /// <summary>The network: 2 inputs, 8 tanh units, 2 tanh units, 2 outputs.</summary>
    public const string Model = "mlp:2-8-2-2:tanh";

    /// <summary>The 2-unit layer.</summary>
    public const string TwoUnitLayer = "tanh2";

    /// <summary>Runs both data sets; figures go to <paramref name="outDir"/>/&lt;name&gt;-evolution.* and -grid-warp.*.</summary>
    public static CloudsResult Run(CloudsSettings settings, string outDir, TextWriter log)
    {
        Directory.CreateDirectory(outDir);
        var sets = new (string Name, string Spec, Dataset Data)[]
        {
            ("clouds", Inv($"synthetic:gaussians?n={settings.Samples}&noise=0.6&seed={settings.Seed}"), Synthetic.Gaussians(settings.Samples, 0.6, settings.Seed)),
            ("circles", Inv($"synthetic:circles?n={settings.Samples}&noise=0.08&seed={settings.Seed}"), Synthetic.Circles(settings.Samples, 0.08, settings.Seed)),
        };
        var results = new List<CloudsDataResult>();
        foreach (var (name, dataSpec, data) in sets) results.Add(RunOne(name, dataSpec, data, settings, outDir, log));
        return new CloudsResult(results.ToArray());
    }

    static string Inv(FormattableString s) => FormattableString.Invariant(s);

    static CloudsDataResult RunOne(string name, string dataSpec, Dataset data, CloudsSettings settings, string outDir, TextWriter log)
    {
        var spec = ModelSpec.Parse(Model);
        var trainer = new Trainer("adam", settings.Epochs, BatchSize: 16, LearningRate: settings.LearningRate, Seed: settings.Seed, TestFraction: 0.2);
        var run = trainer.Train(spec, data, dataSpec, Path.Combine(outDir, "runs", name));
        log.WriteLine($"{name}: trained {spec} for {settings.Epochs} epochs, train accuracy {run.Checkpoints[^1].TrainAccuracy:F3}");

        var study = new EvolutionStudy(Layers: "tanh1,tanh2,fc3", Method: ProjectionMethod.Pca, MaxSamples: null, Seed: settings.Seed,
            Epochs: EvolutionStudy.DefaultEpochs(run.Checkpoints.Select(c => c.Epoch).ToArray(), settings.MaxRows), IncludeInput: true);
        var evo = study.Run(run, data);
        string[] classes = ["class 0", "class 1"];
        string evoStem = Path.Combine(outDir, name + "-evolution");
        var grid = EvolutionFigures.Grid(evo, classes);
        grid = grid with { Style = grid.Style.WithDpi(settings.Dpi) };
        foreach (var ext in new[] { ".png", ".svg", ".pdf" }) grid.Save(evoStem + ext);

        // separability of the 2-unit layer at each drawn epoch: a linear probe on its raw 2-D output
        var acc = new double[evo.Epochs.Length];
        var warps = new List<(string, PlaneWarpResult, Matrix)>();
        var box = PlaneBox.Around(data.Features, 0.1);
        for (int r = 0; r < evo.Epochs.Length; r++)
        {
            using var model = run.BuildModel(evo.Epochs[r]);
            var h = PlaneMaps.LayerOutput(model, TwoUnitLayer, data.Features, requireWidth: 2);
            acc[r] = new LinearProbe(Seed: settings.Seed, Folds: 5).Run(h, data.Labels!).TestAccuracy;
            warps.Add(($"epoch {evo.Epochs[r]}", PlaneMaps.Warp(model, TwoUnitLayer, box), h));
            log.WriteLine($"{name}: epoch {evo.Epochs[r],3}  linear probe on {TwoUnitLayer}: {acc[r]:P1}");
        }
        string warpStem = Path.Combine(outDir, name + "-grid-warp");
        var warpFig = EvolutionFigures.GridWarp(data.Features, warps, data.Labels!, classes, title: $"How {TwoUnitLayer} (2 units) folds the input plane over training");
        warpFig = warpFig with { Style = warpFig.Style.WithDpi(settings.Dpi) };
        foreach (var ext in new[] { ".png", ".svg", ".pdf" }) warpFig.Save(warpStem + ext);
        return new CloudsDataResult(name, evoStem + ".png", warpStem + ".png", evo.Epochs, acc, evo);
    }
}
