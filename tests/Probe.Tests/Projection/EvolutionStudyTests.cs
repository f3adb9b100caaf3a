using Probe.Data;
using Probe.Models;
using Probe.Projection;
using Xunit;

namespace Probe.Tests.Projection;

public class EvolutionStudyTests
{
    static Matrix Random3(int n, int seed)
    {
        var rng = new Random(seed);
        var m = new Matrix(n, 3);
        // anisotropic cloud so the top two principal axes are well defined
        for (int i = 0; i < n; i++) { m[i, 0] = (float)(3 * (rng.NextDouble() - 0.5)); m[i, 1] = (float)(1.5 * (rng.NextDouble() - 0.5)); m[i, 2] = (float)(0.3 * (rng.NextDouble() - 0.5)); }
        return m;
    }

    static Matrix Times(Matrix x, double[,] q)
    {
        var y = new Matrix(x.Rows, x.Cols);
        for (int i = 0; i < x.Rows; i++)
            for (int j = 0; j < x.Cols; j++)
            {
                double s = 0;
                for (int k = 0; k < x.Cols; k++) s += x[i, k] * q[k, j];
                y[i, j] = (float)s;
            }
        return y;
    }

    [Fact]
    public void PcaPanelsOfARotatedReflectedLayerAreAlignedOntoThePreviousCheckpoint()
    {
        var x0 = Random3(80, 1);
        // an orthogonal map with det -1: rotate 70 degrees in (0,1), then flip axis 2 and axis 0
        double c = Math.Cos(1.2), s = Math.Sin(1.2);
        var q = new double[,] { { -c, -s, 0 }, { -s, c, 0 }, { 0, 0, -1 } };
        var x1 = Times(x0, q);
        var acts = new[] { new Dictionary<string, Matrix> { ["h"] = x0 }, new Dictionary<string, Matrix> { ["h"] = x1 } };
        var r = new EvolutionStudy(Method: ProjectionMethod.Pca, MaxSamples: null).Project([0, 7], ["h"], i => acts[i], Enumerable.Range(0, 80).Select(i => i % 2).ToArray());
        var a = r.Panels[0][0];
        var b = r.Panels[1][0];
        // PCA is invariant to an orthogonal map up to the sign of each axis; the alignment removes the remaining flip
        for (int i = 0; i < 80; i++)
        {
            Assert.Equal(a.X[i], b.X[i], 3);
            Assert.Equal(a.Y[i], b.Y[i], 3);
        }
        Assert.Equal([0, 7], r.Epochs);
        Assert.Equal(a.ExplainedVarianceRatio![0], b.ExplainedVarianceRatio![0], 5);
        Assert.InRange(a.Trustworthiness!.Value, 0.9, 1.0);
    }

    [Fact]
    public void TrustworthinessIsScoredOnAFixedSubsampleAsProbeProjectScoresIt()
    {
        // 80 rows, 40 scored: the rows probe project would score (uniform, seeded by the study's seed), the same in
        // every panel; at or above the row count, every row. Trustworthiness itself is checked against scikit-learn elsewhere.
        var x = Random3(80, 2);
        var acts = new Dictionary<string, Matrix> { ["h"] = x };
        var labels = Enumerable.Range(0, 80).Select(i => i % 2).ToArray();
        var sampled = new EvolutionStudy(MaxSamples: null, Seed: 5, QualitySamples: 40).Project([0], ["h"], _ => acts, labels);
        var all = new EvolutionStudy(MaxSamples: null, Seed: 5).Project([0], ["h"], _ => acts, labels);
        Assert.Equal("k=10, 40 of 80 rows (uniform, seed 5)", sampled.Quality);
        Assert.Equal("k=10, all 80 rows", all.Quality);
        var panel = sampled.Panels[0][0];
        var emb = new Matrix(80, 2);
        for (int i = 0; i < 80; i++) { emb[i, 0] = (float)panel.X[i]; emb[i, 1] = (float)panel.Y[i]; }
        var rows = DatasetSampling.UniformIndices(80, 40, 5);
        Array.Sort(rows);
        Assert.Equal(Trustworthiness.Compute(x.SelectRows(rows), emb.SelectRows(rows), 10), panel.Trustworthiness!.Value, 12);
        Assert.Equal(Trustworthiness.Compute(x, emb, 10), all.Panels[0][0].Trustworthiness!.Value, 12);
        Assert.Null(new EvolutionStudy(MaxSamples: null, QualitySamples: 0).Project([0], ["h"], _ => acts, labels).Panels[0][0].Trustworthiness);
    }

    [Fact]
    public void TsnePanelsStartFromThePreviousCheckpointAndAreDeterministic()
    {
        var x = ProjectionTestData.Digits(120);
        var acts = new Dictionary<string, Matrix> { ["pixels"] = x };
        var study = new EvolutionStudy(Method: ProjectionMethod.Tsne, MaxSamples: null, Perplexity: 10, TsneIterations: 300, Seed: 3);
        var r1 = study.Project([0, 1], ["pixels"], _ => acts, null);
        var r2 = study.Project([0, 1], ["pixels"], _ => acts, null);
        Assert.Equal(r1.Panels[1][0].X, r2.Panels[1][0].X);
        Assert.Equal(10, r1.Perplexity);
        Assert.False(r1.HasLabels);
        Assert.NotNull(r1.Panels[1][0].KlDivergence);
        // same data in both rows: the second embedding, started from the first, keeps its layout (neighbours preserved)
        var a = r1.Panels[0][0].ToMatrix();
        var b = r1.Panels[1][0].ToMatrix();
        Assert.InRange(Trustworthiness.Compute(a, b, 10), 0.95, 1.0);
        Assert.InRange(r1.Panels[1][0].Trustworthiness!.Value, 0.85, 1.0);
    }

    [Fact]
    public void MismatchedSampleCountsAndMissingLayersFailLoudly()
    {
        var study = new EvolutionStudy(MaxSamples: null);
        var a = new Dictionary<string, Matrix> { ["h"] = Random3(20, 1) };
        var b = new Dictionary<string, Matrix> { ["h"] = Random3(21, 1) };
        var e1 = Assert.Throws<ProbeException>(() => study.Project([0, 1], ["h"], i => i == 0 ? a : b, null));
        Assert.Contains("same samples", e1.Message);
        var e2 = Assert.Throws<ProbeException>(() => study.Project([0], ["nope"], _ => a, null));
        Assert.Contains("'nope'", e2.Message);
    }

    [Fact]
    public void DefaultEpochsKeepFirstAndLastAndThinTheGeometricOnes()
    {
        Assert.Equal([0, 1, 5, 20, 40], EvolutionStudy.DefaultEpochs(Enumerable.Range(0, 41).ToArray(), 5));
        Assert.Equal([0, 1, 2, 5, 10, 20], EvolutionStudy.DefaultEpochs(Enumerable.Range(0, 21).ToArray(), 6));
        Assert.Equal([0, 1, 2], EvolutionStudy.DefaultEpochs([2, 0, 1], 6));
        Assert.Equal([20], EvolutionStudy.DefaultEpochs(Enumerable.Range(0, 21).ToArray(), 1));
    }

    [Fact]
    public void DefaultLayersAreTheHiddenActivationsAndTheOutput()
    {
        Assert.Equal("relu1,relu2,relu3,fc4", EvolutionStudy.DefaultLayers(ModelSpec.Parse("mlp:64-128-64-32-10:relu")));
        Assert.Equal("tanh1,tanh2,fc3", EvolutionStudy.DefaultLayers(ModelSpec.Parse("mlp:2-8-2-2:tanh")));
        // A ResNet calls one relu module throughout: each stage's output and the output layer.
        Assert.Equal("layer1,layer2,layer3,layer4,fc", EvolutionStudy.DefaultLayers(ModelSpec.Parse("resnet:18:w8:c10:3x32x32")));
        Assert.Equal("layer1,layer2,layer3,layer4,fc", EvolutionStudy.DefaultLayers(ModelSpec.Parse("torchvision:resnet50")));
        Assert.Equal("features,classifier", EvolutionStudy.DefaultLayers(ModelSpec.Parse("torchvision:vgg11")));
    }

    [Fact]
    public void RunOnATrainedRunShowsTheSameSamplesInEveryPanel()
    {
        string dir = Path.Combine(Path.GetTempPath(), "probe-evolution-" + Guid.NewGuid().ToString("N"));
        try
        {
            var data = Synthetic.Circles(120, 0.05, 0);
            var run = new Trainer("adam", 3, BatchSize: 16, LearningRate: 0.02, Seed: 0).Train(ModelSpec.Parse("mlp:2-8-2-2:tanh"), data, "synthetic:circles?n=120", dir);
            var r = new EvolutionStudy(MaxSamples: 60, IncludeInput: true, Seed: 2).Run(run, data);
            Assert.Equal([0, 1, 2, 3], r.Epochs);
            Assert.Equal(["input", "tanh1", "tanh2", "fc3"], r.Layers);
            Assert.Equal(60, r.SampleIndices.Length);
            Assert.Equal(r.SampleIndices.Select(i => data.Labels![i]).ToArray(), r.Labels);
            Assert.All(r.Panels.SelectMany(p => p), p => Assert.Equal(60, p.X.Length));
            Assert.Equal(r.Panels[0][0].X, r.Panels[3][0].X); // the input column does not change
            Assert.Equal([2, 8, 2, 2], r.Panels[0].Select(p => p.Features).ToArray());
            var e = Assert.Throws<ProbeArgumentException>(() => (new EvolutionStudy(Epochs: [9])).Run(run, data));
            Assert.Contains("available epochs", e.Message);
            // The same data streamed from .npy files: the same samples, hence the same panels to the bit.
            string x = Path.Combine(dir, "x.npy"), y = Path.Combine(dir, "y.npy");
            Npy.Write(x, data.Features);
            Npy.Write(y, new NpyArray(NpyDType.Int32, [data.Count], data.Labels!));
            var streamed = DataSource.Parse($"npy:{x},{y}").Open();
            Assert.IsNotType<Dataset>(streamed);
            try
            {
                var s = new EvolutionStudy(MaxSamples: 60, IncludeInput: true, Seed: 2).Run(run, streamed);
                Assert.Equal(r.SampleIndices, s.SampleIndices);
                for (int i = 0; i < r.Panels.Length; i++)
                    for (int j = 0; j < r.Panels[i].Length; j++)
                    {
                        Assert.Equal(r.Panels[i][j].X, s.Panels[i][j].X);
                        Assert.Equal(r.Panels[i][j].Y, s.Panels[i][j].Y);
                    }
            }
            finally { (streamed as IDisposable)?.Dispose(); }
        }
        finally { try { Directory.Delete(dir, true); } catch (IOException) { } }
    }

    [Fact]
    public void GridWarpMapsTheRegularGridThroughTheTwoUnitLayer()
    {
        var spec = ModelSpec.Parse("mlp:2-8-2-2:tanh");
        using var model = spec.Build(0);
        var box = new PlaneBox(-1, 1, -2, 2);
        var w = PlaneMaps.Warp(model, "tanh2", box, lines: 5, steps: 11);
        Assert.Equal(10, w.Lines.Length);
        Assert.Equal(-2, w.InputLines[0].Y[0], 6);
        Assert.Equal(2, w.InputLines[0].Y[^1], 6);
        // each warped point is the layer's output at the corresponding grid point
        var pts = new Matrix(1, 2, [(float)w.InputLines[3].X[4], (float)w.InputLines[3].Y[4]]);
        var h = PlaneMaps.LayerOutput(model, "tanh2", pts);
        Assert.Equal(h[0, 0], w.Lines[3].X[4], 5);
        Assert.Equal(h[0, 1], w.Lines[3].Y[4], 5);
        Assert.All(w.Lines.SelectMany(l => l.X), v => Assert.InRange(v, -1, 1)); // tanh range
        var ex = Assert.Throws<ProbeException>(() => PlaneMaps.Warp(model, "tanh1", box));
        Assert.Contains("exactly 2", ex.Message);
        // decision regions from the hidden layer agree with the whole network on the same inputs
        var regions = PlaneMaps.DecisionRegions(model, box, 4, 4);
        var centres = PlaneMaps.CellCentres(box, 4, 4);
        var hidden = PlaneMaps.LayerOutput(model, "tanh1", centres);
        var outAll = PlaneMaps.LayerOutput(model, "fc3", centres);
        for (int i = 0; i < 16; i++) Assert.Equal(outAll[i, 1] > outAll[i, 0] ? 1 : 0, regions[i / 4][i % 4]);
        Assert.Equal(8, hidden.Cols);
    }
}
