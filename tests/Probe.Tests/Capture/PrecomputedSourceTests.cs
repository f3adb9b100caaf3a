using Probe.Analysis;
using Probe.Capture;
using Probe.Similarity;
using Probe.Tests.Analysis;
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
    public void DeadUnitsOfAPyTorchActivationFolderEqualNumPys()
    {
        var dir = PyTorchFolder();
        try
        {
            using var source = PrecomputedSource.Open(dir);
            Assert.Equal(new[] { "fc1", "fc2", "fc3", "fc4", "relu1", "relu2", "relu3" }, source.Sites.Select(s => s.Name)); // ordinal file order
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
}
