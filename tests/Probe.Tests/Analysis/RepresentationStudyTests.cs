using System.Text.Json;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Reporting;
using Probe.Reporting.Sections;
using Xunit;

namespace Probe.Tests.Analysis;

public sealed class RepresentationStudyTests : IDisposable
{
    private static readonly int[] Labels = TestNpy.ReadInt32("digits_labels.npy");
    private static readonly bool[] Mask = TestNpy.ReadBool("digits_probe_train_mask.npy");
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "probe-representation-" + Guid.NewGuid().ToString("N"));

    public RepresentationStudyTests() => Directory.CreateDirectory(_dir);
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    private static Dataset Digits() => new Dataset("digits", TestNpy.ReadMatrix("digits_input.npy"), Labels, [1, 8, 8]).Validate();

    // Reference: expected.json digits_mlp.per_layer.<layer>.separability_ratio (1e-6 relative) and
    // .probe_test_accuracy_sklearn_lbfgs_C1_standardized (scikit-learn lbfgs C = 1 on the same train mask; 2 points).
    [Fact]
    public void Analyze_MatchesReferencePerLayer()
    {
        string[] names = ["relu1", "relu2", "relu3"];
        var layers = names.Select(n => (n, TestNpy.ReadMatrix($"digits_{n}.npy"))).ToList();
        var result = new RepresentationStudy().Analyze(layers, Labels, Mask);
        Assert.Equal(names, result.Select(r => r.Layer));
        foreach (var r in result)
        {
            var e = TestNpy.Layer(r.Layer);
            double sep = e.GetProperty("separability_ratio").GetDouble();
            Assert.True(Math.Abs(r.SeparabilityRatio - sep) <= 1e-6 * sep, $"{r.Layer}: {r.SeparabilityRatio} vs {sep}");
            double acc = e.GetProperty("probe_test_accuracy_sklearn_lbfgs_C1_standardized").GetDouble();
            Assert.True(Math.Abs(r.ProbeTestAccuracy - acc) <= 0.02, $"{r.Layer}: {r.ProbeTestAccuracy} vs {acc}");
            Assert.Equal(1200, r.TrainCount); Assert.Equal(597, r.TestCount);
            Assert.NotNull(r.FisherTraceRatio);
            Assert.True(r.FisherTraceRatio > 0);
            Assert.Equal(597, r.ConfusionMatrix.Sum(row => row.Sum()));
            Assert.True(r.Seconds > 0);
        }
    }

    [Fact]
    public void Separability_FallsBackWithoutFisher_WhenScatterIsSingular()
    {
        // Column 1 duplicates column 0: without a ridge the within-class scatter is singular, so the Fisher criterion is undefined.
        var m = new Matrix(6, 2, [0, 0, 1, 1, 0.5f, 0.5f, 5, 5, 6, 6, 5.5f, 5.5f]);
        int[] y = [0, 0, 0, 1, 1, 1];
        Assert.NotNull(RepresentationStudy.Separability("dup", m, y, fisher: true, fisherLambda: 1e-3).FisherTraceRatio);
        var r = RepresentationStudy.Separability("dup", m, y, fisher: true, fisherLambda: 0);
        Assert.Null(r.FisherTraceRatio);
        Assert.Equal(new SeparabilityAnalyzer().Run(m, y, "dup").Ratio, r.Ratio);
        Assert.Throws<UndefinedForDataException>(() => RepresentationStudy.Separability("one", m, [0, 0, 0, 0, 0, 0]));
    }

    [Fact]
    public void RunStudy_UsesRunSplitAndSameSamples_AndCallbackWritesRunJson()
    {
        var data = Digits();
        var study = new RepresentationStudy(MaxSamples: 900, Seed: 3);
        var trainer = new Trainer("adam", Epochs: 2, BatchSize: 32, LearningRate: 3e-3, Seed: 1, TestFraction: 0.25)
        {
            OnCheckpoint = RepresentationCallback.Create("relu1,relu3", every: 2, study),
        };
        var run = trainer.Train(ModelSpec.Parse("mlp:64-128-64-32-10:relu"), data, "digits", Path.Combine(_dir, "run"));

        // The callback stored numbers at epochs 0 and 2 only.
        var loaded = RunFolder.Load(Path.Combine(_dir, "run"));
        Assert.False(loaded.Checkpoint(1).Extra.ContainsKey(RepresentationCallback.Key));
        var stored = (JsonElement)loaded.Checkpoint(2).Extra[RepresentationCallback.Key]!;
        Assert.Equal(2, stored.GetArrayLength());
        Assert.Equal("relu1", stored[0].GetProperty("layer").GetString());

        // Recompute independently from the checkpoint: same rows, the run's split, the same numbers.
        var report = new RepresentationStudy(new LayerSelector("relu1,relu3"), MaxSamples: 900, Seed: 3).Run(loaded, data, [0, 2]);
        Assert.Equal([0, 2], report.Checkpoints.Select(c => c.Epoch!.Value));
        var rows = SampleChooser.Choose(data.Count, 900, 3);
        Assert.Equal(rows, report.SampleIndices);
        var test = new HashSet<int>(loaded.Info.Split.TestIndices);
        int expectedTrain = rows.Count(r => !test.Contains(r));
        var final = report.Checkpoints[1];
        Assert.Equal(loaded.Checkpoint(2).TrainAccuracy, final.NetworkTrainAccuracy);
        for (int i = 0; i < 2; i++)
        {
            var l = final.Layers[i];
            Assert.Equal(expectedTrain, l.TrainCount);
            Assert.Equal(rows.Length - expectedTrain, l.TestCount);
            Assert.Equal(l.SeparabilityRatio, stored[i].GetProperty("separability_ratio").GetDouble(), 12);
            Assert.Equal(l.ProbeTestAccuracy, stored[i].GetProperty("probe_test_accuracy").GetDouble(), 12);
            Assert.Equal(l.ProbeTrainAccuracy, stored[i].GetProperty("probe_train_accuracy").GetDouble(), 12);
        }
        // Separability on the captured rows equals a direct computation on the same rows.
        using var model = loaded.BuildModel(2);
        var acts = new ActivationCapture(new LayerSelector("relu3")).ToMemory(model, data, 900, 3);
        Assert.Equal(new SeparabilityAnalyzer().Run(acts["relu3"], acts.Labels!).Ratio, final.Layers[1].SeparabilityRatio, 12);
        Assert.Equal(RepresentationStudy.Plateau(report.Checkpoints).Length, report.Warnings.Length);

        // Figures: one line per checkpoint, PNG and SVG.
        var acc = RepresentationFigures.ProbeAccuracyVersusDepth(report.Checkpoints);
        Assert.Equal(2, acc.Series.Count);
        var files = Figures.SaveAll(RepresentationFigures.SeparabilityVersusDepth(report.Checkpoints), Path.Combine(_dir, "sep"));
        Assert.Contains(files, f => f.EndsWith(".png", StringComparison.Ordinal) && new FileInfo(f).Length > 1000);
        Assert.Contains(files, f => f.EndsWith(".svg", StringComparison.Ordinal));
        Assert.Equal(2, RepresentationFigures.TableRows(final.Layers).Count());
    }

    [Fact]
    public void Figures_RefuseMismatchedLayers()
    {
        LayerQuality L(string n) => new(n, 1, 1, null, 1, 1, 1, 0.1, [[1]], [0], 1, 1, 0.1);
        var a = new CheckpointQuality(0, 0.1, null, [L("a"), L("b")]);
        var b = new CheckpointQuality(1, 0.2, null, [L("a")]);
        Assert.Throws<ProbeException>(() => RepresentationFigures.SeparabilityVersusDepth([a, b]));
        Assert.Throws<ProbeException>(() => RepresentationFigures.ProbeAccuracyVersusDepth([]));
    }

    [Fact]
    public void Callback_RejectsBadInterval() => Assert.Throws<ProbeException>(() => RepresentationCallback.Create("all", 0));
}
