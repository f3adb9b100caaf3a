using Probe;
using Probe.Analysis;
using Probe.Data;
using Probe.Models;
using Probe.Projection;
using Probe.Reporting.Sections;

namespace Probe.Examples.DigitsEvolution;

/// <summary>Settings: training epochs, sample caps of the PCA grid and of the t-SNE figures, t-SNE iterations, dpi.</summary>
public sealed record DigitsSettings(int Epochs = 20, int PcaSamples = 1000, int TsneSamples = 500, int TsneIterations = 750, int MaxRows = 5, int Seed = 0, double Dpi = 300);

/// <summary>
/// The figures written and their numbers: the class separability (between / within scatter of the 2-D picture) of the
/// input and of the last hidden layer's t-SNE at the final checkpoint, and the PCA and t-SNE evolution results.
/// </summary>
public sealed record DigitsResult(string InputVersusHiddenFigure, string PcaGridFigure, string TsneGridFigure,
    double InputTsneSeparability, double HiddenTsneSeparability, EvolutionResult Pca, EvolutionResult Tsne, EvolutionResult InputVersusHidden);

/// <summary>
/// The digits MLP (mlp:64-128-64-32-10:relu) trained with a checkpoint per epoch: t-SNE of the input pixels versus the
/// last hidden layer at the end of training, and the full evolution grid (every hidden layer and the output), with PCA
/// and with t-SNE (each checkpoint's t-SNE started from the previous one's).
/// </summary>
public static class DigitsEvolutionExample
{
    /// <summary>The network.</summary>
    public const string Model = "mlp:64-128-64-32-10:relu";

    /// <summary>Trains, draws, and returns what was written.</summary>
    public static DigitsResult Run(DigitsSettings settings, string outDir, TextWriter log)
    {
        Directory.CreateDirectory(outDir);
        var data = Datasets.Digits();
        var spec = ModelSpec.Parse(Model);
        var run = new Trainer("adam", settings.Epochs, BatchSize: 32, LearningRate: 1e-3, Seed: settings.Seed).Train(spec, data, "digits", Path.Combine(outDir, "run"));
        log.WriteLine($"Trained {spec} for {settings.Epochs} epochs: train accuracy {run.Checkpoints[^1].TrainAccuracy:F3}, test accuracy {run.Checkpoints[^1].TestAccuracy:F3}");
        string[] classes = EvolutionFigures.DefaultClassNames(10);
        int last = run.Checkpoints[^1].Epoch;
        var epochs = EvolutionStudy.DefaultEpochs(run.Checkpoints.Select(c => c.Epoch).ToArray(), settings.MaxRows);

        // t-SNE of the input versus the last hidden layer at the final checkpoint
        var ivh = new EvolutionStudy(Layers: "relu3", Method: ProjectionMethod.Tsne, MaxSamples: settings.TsneSamples, Seed: settings.Seed,
            Epochs: [last], IncludeInput: true, TsneIterations: settings.TsneIterations).Run(run, data);
        var ivhFig = EvolutionFigures.Grid(ivh, classes, basis: Reporting.FigureStyle.Column with { WidthInches = 4.6 });
        string ivhStem = Path.Combine(outDir, "digits-tsne-input-vs-relu3");
        Save(ivhFig, ivhStem, settings.Dpi);
        var sep = new SeparabilityAnalyzer();
        double sIn = sep.Run(ivh.Panels[0][0].ToMatrix(), ivh.Labels).Ratio;
        double sHid = sep.Run(ivh.Panels[0][1].ToMatrix(), ivh.Labels).Ratio;
        log.WriteLine($"t-SNE class separability (between/within): input {sIn:F2}, relu3 {sHid:F2}");

        var pca = new EvolutionStudy(Method: ProjectionMethod.Pca, MaxSamples: settings.PcaSamples, Seed: settings.Seed, Epochs: epochs).Run(run, data);
        string pcaStem = Path.Combine(outDir, "digits-evolution-pca");
        Save(EvolutionFigures.Grid(pca, classes), pcaStem, settings.Dpi);
        var tsne = new EvolutionStudy(Method: ProjectionMethod.Tsne, MaxSamples: settings.TsneSamples, Seed: settings.Seed, Epochs: epochs,
            TsneIterations: settings.TsneIterations).Run(run, data);
        string tsneStem = Path.Combine(outDir, "digits-evolution-tsne");
        Save(EvolutionFigures.Grid(tsne, classes), tsneStem, settings.Dpi);
        log.WriteLine($"Wrote {ivhStem}, {pcaStem} and {tsneStem} (.png, .svg, .pdf)");
        return new DigitsResult(ivhStem + ".png", pcaStem + ".png", tsneStem + ".png", sIn, sHid, pca, tsne, ivh);
    }

    static void Save(StyledFigure fig, string stem, double dpi)
    {
        fig = fig with { Style = fig.Style.WithDpi(dpi) };
        foreach (var ext in new[] { ".png", ".svg", ".pdf" }) fig.Save(stem + ext);
    }
}
