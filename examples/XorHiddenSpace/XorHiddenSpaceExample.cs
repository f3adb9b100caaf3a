using Probe;
using Probe.Data;
using Probe.Models;
using Probe.Projection;
using Probe.Reporting.Sections;

namespace Probe.Examples.XorHiddenSpace;

/// <summary>Settings of the XOR example: noisy XOR clouds, an MLP with a 2-unit tanh hidden layer, Adam.</summary>
public sealed record XorSettings(int Samples = 400, double Noise = 0.1, int Epochs = 60, double LearningRate = 0.03, int Seed = 1, double Dpi = 300);

/// <summary>What the XOR example produced: the figure path and how linearly separable each space is (perceptron accuracy).</summary>
public sealed record XorResult(string Figure, double InputPerceptronAccuracy, double HiddenPerceptronAccuracy, double NetworkTrainAccuracy);

/// <summary>
/// XOR is not linearly separable in the input plane, but a 2-unit hidden layer bends the plane so that it is: the figure
/// shows the input space with the network's decision regions beside the hidden space with the output layer's (linear)
/// decision regions.
/// </summary>
public static class XorHiddenSpaceExample
{
    /// <summary>The hidden layer drawn (the 2-unit tanh of mlp:2-2-2:tanh).</summary>
    public const string HiddenLayer = "tanh1";

    /// <summary>Trains the network, writes xor-hidden-space.png/.svg/.pdf to <paramref name="outDir"/>, returns the separability numbers.</summary>
    public static XorResult Run(XorSettings settings, string outDir, TextWriter log)
    {
        Directory.CreateDirectory(outDir);
        var data = Synthetic.XorClouds(settings.Samples, settings.Noise, settings.Seed);
        var spec = ModelSpec.Parse("mlp:2-2-2:tanh");
        var trainer = new Trainer("adam", settings.Epochs, BatchSize: 16, LearningRate: settings.LearningRate, Seed: settings.Seed, TestFraction: 0.2);
        string dataSpec = FormattableString.Invariant($"synthetic:xor-clouds?n={settings.Samples}&noise={settings.Noise}&seed={settings.Seed}");
        var run = trainer.Train(spec, data, dataSpec, Path.Combine(outDir, "run"));
        log.WriteLine($"Trained {spec}: train accuracy {run.Checkpoints[^1].TrainAccuracy:F3}");

        using var model = run.BuildModel();
        var hidden = PlaneMaps.LayerOutput(model, HiddenLayer, data.Features, requireWidth: 2);
        var labels = data.Labels!;
        double inputAcc = Perceptron.BestAccuracy(data.Features, labels);
        double hiddenAcc = Perceptron.BestAccuracy(hidden, labels);
        log.WriteLine($"Perceptron accuracy: input space {inputAcc:P1}, hidden space {hiddenAcc:P1}");

        var inputBox = PlaneBox.Around(data.Features, 0.1);
        var hiddenBox = PlaneBox.Around(hidden, 0.1);
        var panels = new[]
        {
            new PlanePanel("input space", EvolutionFigures.Col(data.Features, 0), EvolutionFigures.Col(data.Features, 1),
                Regions: PlaneMaps.DecisionRegions(model, inputBox), RegionBox: inputBox),
            new PlanePanel($"hidden space ({HiddenLayer})", EvolutionFigures.Col(hidden, 0), EvolutionFigures.Col(hidden, 1),
                Regions: PlaneMaps.DecisionRegionsAfter(model, HiddenLayer, hiddenBox), RegionBox: hiddenBox),
        };
        var fig = EvolutionFigures.Planes(panels, labels, ["xor = 0", "xor = 1"]);
        fig = fig with { Style = fig.Style.WithDpi(settings.Dpi) };
        string stem = Path.Combine(outDir, "xor-hidden-space");
        foreach (var ext in new[] { ".png", ".svg", ".pdf" }) fig.Save(stem + ext);
        return new XorResult(stem + ".png", inputAcc, hiddenAcc, run.Checkpoints[^1].TrainAccuracy);
    }
}

/// <summary>The perceptron: reaches 100% training accuracy exactly when a line separates the classes (given enough passes).</summary>
public static class Perceptron
{
    /// <summary>Best training accuracy reached by a perceptron (bias included, inputs standardised) within <paramref name="passes"/> passes.</summary>
    public static double BestAccuracy(Matrix x, int[] labels, int passes = 1000)
    {
        int n = x.Rows, d = x.Cols;
        var mean = new double[d]; var sd = new double[d];
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) mean[j] += x[i, j] / n;
        for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) sd[j] += Math.Pow(x[i, j] - mean[j], 2) / n;
        for (int j = 0; j < d; j++) sd[j] = sd[j] > 0 ? Math.Sqrt(sd[j]) : 1;
        var w = new double[d + 1];
        double best = 0;
        for (int pass = 0; pass < passes; pass++)
        {
            int errors = 0;
            for (int i = 0; i < n; i++)
            {
                double s = w[d];
                for (int j = 0; j < d; j++) s += w[j] * (x[i, j] - mean[j]) / sd[j];
                int t = labels[i] == 1 ? 1 : -1;
                if (s * t <= 0)
                {
                    errors++;
                    for (int j = 0; j < d; j++) w[j] += t * (x[i, j] - mean[j]) / sd[j];
                    w[d] += t;
                }
            }
            // accuracy of the weights after this pass
            int correct = 0;
            for (int i = 0; i < n; i++)
            {
                double s = w[d];
                for (int j = 0; j < d; j++) s += w[j] * (x[i, j] - mean[j]) / sd[j];
                if ((s > 0) == (labels[i] == 1)) correct++;
            }
            best = Math.Max(best, correct / (double)n);
            if (errors == 0) return 1.0;
        }
        return best;
    }
}
