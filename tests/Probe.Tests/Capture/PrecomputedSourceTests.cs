using System.Text.Json;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Similarity;
using Probe.Tests.Analysis;
using Probe.Tests.Cli;
using TorchSharp;
using Xunit;

namespace Probe.Tests.Capture;

/// <summary>
/// A folder of .npy files written by PyTorch (the digits MLP's per-layer outputs recorded by PyTorch's own hooks) as an
/// activation source: the dead units and CKA found with no model at all must equal NumPy's values in expected.json.
/// </summary>
public class PrecomputedSourceTests
{
    static string PyTorchFolder()
    {
        var dir = Directory.CreateTempSubdirectory("probe-acts-").FullName;
        foreach (var layer in new[] { "fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "fc4" })
            File.Copy(TestNpy.Fixture($"digits_{layer}.npy"), Path.Combine(dir, layer + ".npy"));
        File.Copy(TestNpy.Fixture("digits_labels.npy"), Path.Combine(dir, "labels.npy"));
        return dir;
    }

    [Fact]
    public void A_folder_without_layers_json_takes_its_files_in_natural_order()
    {
        var dir = Directory.CreateTempSubdirectory("probe-acts-order-").FullName;
        try
        {
            var m = new Matrix(3, 2, [1, 2, 3, 4, 5, 6]);
            foreach (var name in new[] { "layer10", "layer2", "layer1", "block1.conv002", "block1.conv10", "Layer3", "fc" })
                Npy.Write(Path.Combine(dir, name + ".npy"), m);
            using var source = PrecomputedSource.Open(dir);
            // Digit runs by value; the rest ordinal ('L' < 'b' < 'f' < 'l').
            Assert.Equal(new[] { "Layer3", "block1.conv002", "block1.conv10", "fc", "layer1", "layer2", "layer10" }, source.Sites.Select(s => s.Name));
        }
        finally { Directory.Delete(dir, true); }
        var order = PrecomputedSource.NaturalOrder.Instance;
        Assert.True(order.Compare("a9", "a10") < 0);
        Assert.True(order.Compare("a10", "a9") > 0);
        Assert.True(order.Compare("a2", "a02") != 0 && Math.Sign(order.Compare("a2", "a02")) == -Math.Sign(order.Compare("a02", "a2"))); // total
        Assert.True(order.Compare("a", "a1") < 0);
        Assert.Equal(0, order.Compare("x7y", "x7y"));
    }

    /// <summary>
    /// A folder without layers.json took every .npy but labels.npy as a layer, so a capture folder whose layers.json was
    /// lost gained a layer "token_mask" (the mask rows) and "rows" (the data row numbers). Those are the folder's own
    /// files, not layers.
    /// </summary>
    [Fact]
    public void A_folder_without_layers_json_leaves_out_the_capture_folders_own_files()
    {
        var dir = Directory.CreateTempSubdirectory("probe-acts-own-").FullName;
        try
        {
            Npy.Write(Path.Combine(dir, "fc.npy"), new Matrix(3, 2, [1, 2, 3, 4, 5, 6]));
            Npy.Write(Path.Combine(dir, "token_mask.npy"), new Matrix(3, 2, [1, 1, 1, 0, 1, 1]));
            Npy.Write(Path.Combine(dir, "rows.npy"), new[] { 0, 5, 9 });
            Npy.Write(Path.Combine(dir, "labels.npy"), new[] { 1, 0, 1 });
            using var source = PrecomputedSource.Open(dir);
            Assert.Equal(new[] { "fc" }, source.Sites.Select(s => s.Name));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void DeadUnitsOfAPyTorchActivationFolderEqualNumPys()
    {
        var dir = PyTorchFolder();
        try
        {
            using var source = PrecomputedSource.Open(dir);
            Assert.Equal(new[] { "fc1", "fc2", "fc3", "fc4", "relu1", "relu2", "relu3" }, source.Sites.Select(s => s.Name)); // file names in natural order
            var r = new DeadUnitStudy(new LayerSelector("relu*")).Run(source, source.Rows);
            Assert.Equal(1797, r.Samples);
            foreach (var l in r.Layers)
            {
                // expected.json digits_mlp.per_layer.<layer>.dead_units / sparsity (NumPy on PyTorch's outputs).
                var exp = TestNpy.Layer(l.Layer);
                Assert.Equal(exp.GetProperty("dead_units").EnumerateArray().Select(e => e.GetInt32()), l.Stats.DeadUnits);
                Assert.Equal(exp.GetProperty("sparsity").GetDouble(), l.Stats.Sparsity, 4);
                Assert.Empty(l.Causes);
                Assert.Contains("no weights", l.CauseNote);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void LinearCkaOfAPyTorchActivationFolderEqualsNumPys()
    {
        var dir = PyTorchFolder();
        try
        {
            using var source = PrecomputedSource.Open(dir);
            var r = new CkaStudy(Layers: "fc1,fc4", Method: CkaStudyMethod.Full).Within(source, source.Rows);
            // expected.json digits_mlp.linear_cka_matrix (NumPy on PyTorch's outputs), rows and columns in digits_mlp.layers order.
            var expected = System.Text.Json.JsonDocument.Parse(File.ReadAllText(TestNpy.Fixture("expected.json"))).RootElement
                .GetProperty("digits_mlp").GetProperty("linear_cka_matrix");
            var layers = TestNpy.DigitsLayers;
            double want = expected[Array.IndexOf(layers, "fc1")][Array.IndexOf(layers, "fc4")].GetDouble();
            Assert.Equal(want, r.Table.Values[0][1], 1e-6);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>Each stored 2-D file of <paramref name="capture"/> reshaped to [N, ..outputShape] (as PyTorch saves maps), with no layers.json.</summary>
    static string AsMultiDimensionalNpy(string capture, string dir)
    {
        Directory.CreateDirectory(dir);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(capture, "layers.json")));
        foreach (var l in doc.RootElement.GetProperty("layers").EnumerateArray())
        {
            var m = Npy.ReadMatrix(Path.Combine(capture, l.GetProperty("file").GetString()!));
            int[] shape = [m.Rows, .. l.GetProperty("outputShape").EnumerateArray().Select(e => e.GetInt32())];
            Npy.Write(Path.Combine(dir, l.GetProperty("name").GetString() + ".npy"), new NpyArray(NpyDType.Float32, shape, m.Data));
        }
        if (File.Exists(Path.Combine(capture, "labels.npy"))) File.Copy(Path.Combine(capture, "labels.npy"), Path.Combine(dir, "labels.npy"));
        return dir;
    }

    /// <summary>What probe capture --reduce flatten writes: one 2-D file per layer and layers.json with each output shape.</summary>
    internal static CaptureSummary WriteFlattenCapture(torch.nn.Module<torch.Tensor, torch.Tensor> model, Dataset data, string layers, string dir)
    {
        CaptureSummary summary;
        using (var sink = new NpySink(dir))
            summary = new ActivationCapture(new LayerSelector(layers), MapReduction.Flatten).Run(model, data, sink);
        File.WriteAllText(Path.Combine(dir, "layers.json"), JsonSerializer.Serialize(new
        {
            samples = summary.Samples,
            reduce = "flatten",
            layers = summary.Layers.Select(l => new { name = l.Name, type = l.ModuleType, outputShape = l.OutputShape, features = l.Features, order = l.Order, file = NpySink.FileName(l.Name) }),
        }));
        return summary;
    }

    static void AssertSameDeadUnits(DeadUnitStudyResult want, DeadUnitStudyResult got)
    {
        Assert.Equal(want.Samples, got.Samples);
        Assert.Equal(want.Layers.Select(l => l.Layer), got.Layers.Select(l => l.Layer));
        foreach (var (w, g) in want.Layers.Zip(got.Layers))
        {
            Assert.Equal(w.OutputShape, g.OutputShape);
            Assert.Equal(w.Positions, g.Positions);
            Assert.Equal(w.Stats.Activation, g.Stats.Activation);
            Assert.Equal(w.Stats.Units, g.Stats.Units);
            Assert.Equal(w.Stats.Values, g.Stats.Values);
            Assert.Equal(w.Stats.DeadUnits, g.Stats.DeadUnits);
            Assert.Equal(w.Stats.DyingUnits, g.Stats.DyingUnits);
            Assert.Equal(w.Stats.FiringRates, g.Stats.FiringRates);
            Assert.Equal(w.Stats.UnitMin, g.Stats.UnitMin);
            Assert.Equal(w.Stats.UnitMax, g.Stats.UnitMax);
            Assert.Equal(w.Stats.Sparsity, g.Stats.Sparsity, 1e-12);
            Assert.Equal(w.Stats.Mean, g.Stats.Mean, 1e-12);
            Assert.Equal(w.Stats.Std, g.Stats.Std, 1e-12);
            Assert.Null(g.Reduced);
        }
    }

    /// <summary>
    /// A folder written by probe capture --reduce flatten (2-D files, per-sample shapes in layers.json) and the same
    /// values saved as 4-D arrays [N, C, H, W] (as from PyTorch): the same sites, shapes and dead-unit results for every
    /// layer (conv maps: C units of H x W positions), and the same rows for CKA, whatever the reduction asked.
    /// </summary>
    [Fact]
    public void AFlattenCaptureFolderEqualsA4DNpyFolderOfTheSameValues()
    {
        var dir = Directory.CreateTempSubdirectory("probe-acts-flat-").FullName;
        try
        {
            string cap = Path.Combine(dir, "cap");
            var (code, _, err) = Cli.Cli.Run("capture", "--model", DeadCommandTests.Cnn, "--weights", DeadCommandTests.SaveDeadCnn(dir),
                "--data", "digits", "--max-samples", "240", "--reduce", "flatten", "--layers", "all", "--out", cap);
            Assert.True(code == 0, err);
            using var flat = PrecomputedSource.Open(cap);
            using var npy = PrecomputedSource.Open(AsMultiDimensionalNpy(cap, Path.Combine(dir, "npy")));
            Assert.Equal([4, 8, 8], flat.Sites.Single(s => s.Name == "relu1").OutputShape!);
            Assert.Equal(npy.Sites.Select(s => s.OutputShape), flat.Sites.OrderBy(s => s.Name, StringComparer.Ordinal).Select(s => s.OutputShape));

            var study = new DeadUnitStudy(new LayerSelector("all"), BatchSize: 64);
            var viaNpy = study.Run(npy, npy.Rows);
            var viaFlat = study.Run(flat, flat.Rows);
            var order = viaNpy.Layers.Select(l => l.Layer).ToList();
            AssertSameDeadUnits(viaNpy, viaFlat with { Layers = [.. viaFlat.Layers.OrderBy(l => order.IndexOf(l.Layer))] });
            Assert.Equal(4, viaFlat.Layer("relu1").Stats.Units);
            Assert.Equal(64, viaFlat.Layer("relu1").Positions);
            Assert.Equal([0], viaFlat.Layer("relu1").Stats.DeadUnits);

            // Rows (CKA, probes) are the stored values as before: all of them for the flatten folder.
            var rows = new ActivationCapture(new LayerSelector("relu1,relu3"), MapReduction.Mean).ToMemory(flat, flat.Rows);
            Assert.Equal(256, rows["relu1"].Cols);
            Assert.Equal(Npy.ReadMatrix(Path.Combine(cap, "relu1.npy")).Data, rows["relu1"].Data);
            var cka = new CkaStudy(Layers: "relu1,relu2,relu3", Reduce: MapReduction.Flatten, Method: CkaStudyMethod.Full);
            Assert.Equal(cka.Within(npy, npy.Rows).Table.Values, cka.Within(flat, flat.Rows).Table.Values);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// Sequence outputs [T, D] (a Linear and a ReLU applied per token) stored flat with their shape in layers.json, as
    /// probe capture --reduce flatten writes them, give the dead units of the same values saved as [N, T, D] and of the
    /// model itself: D units of T tokens each.
    /// </summary>
    [Fact]
    public void AFlattenCaptureFolderOfSequencesEqualsA3DNpyFolderAndTheModel()
    {
        var dir = Directory.CreateTempSubdirectory("probe-acts-seq-").FullName;
        try
        {
            torch.manual_seed(4);
            using var model = torch.nn.Sequential(("fc1", torch.nn.Linear(4, 6)), ("relu1", torch.nn.ReLU()), ("fc2", torch.nn.Linear(6, 3)));
            using (torch.no_grad())
                model.named_parameters().First(p => p.name == "fc1.bias").parameter[2] = torch.tensor(-100f); // unit 2 never fires
            var rng = new Random(8);
            const int tokens = 5;
            var data = new Dataset("tokens", Matrix.Create(30, tokens * 4, (_, _) => (float)(rng.NextDouble() * 2 - 1)), null, [tokens, 4]);

            // What probe capture --reduce flatten writes: one 2-D file per layer and layers.json with each output shape.
            string cap = Path.Combine(dir, "cap");
            var summary = WriteFlattenCapture(model, data, "fc1,relu1", cap);
            Assert.Equal([tokens, 6], summary.Layers.Single(l => l.Name == "relu1").OutputShape);

            using var flat = PrecomputedSource.Open(cap);
            using var npy = PrecomputedSource.Open(AsMultiDimensionalNpy(cap, Path.Combine(dir, "npy")));
            var study = new DeadUnitStudy(new LayerSelector("relu1"), BatchSize: 7);
            var viaFlat = study.Run(flat, flat.Rows);
            AssertSameDeadUnits(study.Run(npy, npy.Rows), viaFlat);
            var relu = viaFlat.Layer("relu1");
            Assert.Equal(6, relu.Stats.Units);
            Assert.Equal(tokens, relu.Positions);
            Assert.Equal([2], relu.Stats.DeadUnits);
            var viaModel = study.Run(model, data).Layer("relu1");
            Assert.Equal(viaModel.Stats.FiringRates, relu.Stats.FiringRates);
            Assert.Equal(viaModel.Stats.Sparsity, relu.Stats.Sparsity, 1e-12);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void AFolderWithFilesOfDifferentLengthsIsRefusedNamingBoth()
    {
        var dir = PyTorchFolder();
        try
        {
            File.Copy(TestNpy.Fixture("cka_x.npy"), Path.Combine(dir, "other.npy"));
            var e = Assert.Throws<ProbeException>(() => PrecomputedSource.Open(dir));
            Assert.Contains("other.npy", e.Message);
            Assert.Contains("fc1.npy", e.Message);
        }
        finally { Directory.Delete(dir, true); }
    }
    /// <summary>
    /// The samples of precomputed activations are the indices of their stored rows: a data set of other values (a user's
    /// one-feature data, an index past the end) is an error, not some stored row passed off as each sample's; a subset of
    /// the rows gives exactly those rows.
    /// </summary>
    [Fact]
    public void DataThatIsNotTheStoredRowsIsRefusedAndASubsetOfThemGivesThoseRows()
    {
        var dir = Directory.CreateTempSubdirectory("probe-acts-rows-").FullName;
        try
        {
            Npy.Write(Path.Combine(dir, "a.npy"), new Matrix(10, 2, Enumerable.Range(0, 20).Select(v => (float)v).ToArray()));
            using var pre = PrecomputedSource.Open(dir);
            var capture = new ActivationCapture(null, MapReduction.Flatten, BatchSize: 4);
            var fractional = new Dataset("feature", new Matrix(3, 1, [0.9f, 2.5f, 7.99f]), null, [1]);
            var e = Assert.Throws<ProbeException>(() => capture.ToMemory(pre, fractional));
            Assert.Contains("its samples are the indices of its 10 stored rows", e.Message);
            Assert.Contains("sample 0 of the data is 0.9", e.Message);
            var past = new Dataset("past", new Matrix(6, 1, [0, 1, 2, 3, 4, 10]), null, [1]);
            Assert.Contains("sample 5 of the data is 10", Assert.Throws<ProbeException>(() => capture.ToMemory(pre, past)).Message);
            // Rows 7, 2 and 9 of the stored 0..19 (two values a row): worked out by hand.
            var some = capture.ToMemory(pre, pre.Rows.Subset([7, 2, 9]))["a"];
            Assert.Equal(new float[] { 14, 15, 4, 5, 18, 19 }, some.Data);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// A GELU over tokens stored as means (probe capture's default --reduce mean): worked by hand, unit 1 has the values
    /// 0.1 and -0.16 on both samples (GELU reaches about -0.17), so it fires (0.1 &gt; 0) though its mean, -0.03, is
    /// not &gt; 0. It was reported dead; which units are dead cannot be told from the means, so the layer is refused,
    /// while a ReLU stored the same way (a mean &gt; 0 exactly when a value is) is still judged.
    /// </summary>
    [Fact]
    public void DeadUnitsOfAGeluStoredAsMeansAreRefused()
    {
        var dir = Directory.CreateTempSubdirectory("probe-acts-").FullName;
        try
        {
            // Per sample, tokens x units: unit 0 = (1.0, -0.16), unit 1 = (0.1, -0.16); means 0.42 and -0.03.
            float[] means = [0.42f, -0.03f, 0.42f, -0.03f];
            Npy.Write(Path.Combine(dir, "act.npy"), new NpyArray(NpyDType.Float32, [2, 2], means));
            Npy.Write(Path.Combine(dir, "relu.npy"), new NpyArray(NpyDType.Float32, [2, 2], new float[] { 0.5f, 0f, 0.5f, 0f }));
            File.WriteAllText(Path.Combine(dir, "layers.json"), """
                {"samples": 2, "reduce": "mean", "layers": [
                  {"name": "act", "type": "Mul", "layout": "MatMul", "activation": "GELU", "outputShape": [2, 2], "features": 2, "order": 0, "file": "act.npy"},
                  {"name": "relu", "type": "Relu", "layout": "MatMul", "activation": null, "outputShape": [2, 2], "features": 2, "order": 1, "file": "relu.npy"}]}
                """);
            using var source = PrecomputedSource.Open(dir);
            var e = Assert.Throws<ProbeException>(() => new DeadUnitStudy(new LayerSelector("act")).Run(source, source.Rows));
            Assert.Contains("Layer 'act' (GELU)", e.Message);
            Assert.Contains("--reduce max", e.Message);
            var relu = new DeadUnitStudy(new LayerSelector("relu")).Run(source, source.Rows).Layers.Single();
            Assert.Equal([1], relu.Stats.DeadUnits);
            // The default selection leaves the GELU out, says why, and judges the rest.
            var all = new DeadUnitStudy().Run(source, source.Rows);
            Assert.Equal(["relu"], all.Layers.Select(l => l.Layer));
            Assert.Contains("Layer 'act' (GELU)", Assert.Single(all.LeftOut));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>
    /// A sigmoid conv layer stored as channel means and one stored as maxima: worked by hand, channel 0 holds 0.995 at
    /// one of its 4 positions and 0.5 at the others on every sample, so its maximum sits at the top end while three
    /// of its positions pass gradients (not saturated); its mean, 0.62, hides the same. Saturation needs every value:
    /// a layer chosen with --layers is refused, one the default selection took is left out, and the flattened layer
    /// (every position) is judged: channel 0 not saturated, channel 1 (every position at 0.999) saturated.
    /// </summary>
    [Fact]
    public void SaturationOfASigmoidMapStoredReducedIsRefused()
    {
        var root = Directory.CreateTempSubdirectory("probe-acts-").FullName;
        try
        {
            float[] sample = [0.995f, 0.5f, 0.5f, 0.5f, 0.999f, 0.999f, 0.999f, 0.999f];
            string Folder(string how, float[] reduced)
            {
                string dir = Path.Combine(root, how);
                Directory.CreateDirectory(dir);
                Npy.Write(Path.Combine(dir, "act.npy"), new NpyArray(NpyDType.Float32, [3, 2], (float[])[.. reduced, .. reduced, .. reduced]));
                Npy.Write(Path.Combine(dir, "flat.npy"), new NpyArray(NpyDType.Float32, [3, 2, 2, 2], (float[])[.. sample, .. sample, .. sample]));
                File.WriteAllText(Path.Combine(dir, "layers.json"), $$"""
                    {"samples": 3, "reduce": "{{how}}", "layers": [
                      {"name": "act", "type": "Sigmoid", "outputShape": [2, 2, 2], "order": 0, "file": "act.npy"},
                      {"name": "flat", "type": "Sigmoid", "outputShape": [2, 2, 2], "order": 1, "file": "flat.npy"}]}
                    """);
                return dir;
            }
            foreach (var (how, reduced) in new[] { ("mean", new[] { 0.62375f, 0.999f }), ("max", new[] { 0.995f, 0.999f }) })
            {
                using var source = PrecomputedSource.Open(Folder(how, reduced));
                var e = Assert.Throws<ProbeException>(() => new DeadUnitStudy(new LayerSelector("act")).Run(source, source.Rows));
                Assert.Contains("Layer 'act' (Sigmoid)", e.Message);
                Assert.Contains("--reduce flatten", e.Message);
                var all = new DeadUnitStudy().Run(source, source.Rows);
                var judged = Assert.Single(all.Layers);
                Assert.Equal("flat", judged.Layer);
                Assert.Equal(UnitActivation.Sigmoid, judged.Stats.Activation);
                Assert.Equal([1], judged.Stats.SaturatedUnits);
                Assert.Contains("Layer 'act' (Sigmoid)", Assert.Single(all.LeftOut));
            }
        }
        finally
        {
            Directory.Delete(root, true);
        }
    }
}
