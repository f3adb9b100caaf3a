using Onnx;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Onnx;
using Xunit;
using static Probe.Tests.Onnx.OnnxLayoutTests;

namespace Probe.Tests.Onnx;

/// <summary>
/// Exporters before opset 20 write nn.GELU as x · (1 + erf(x / √2)) · 0.5 and nn.SiLU as x · σ(x): the last Mul is the
/// activation, positive exactly when x is, and its units are judged as the module's are (dead = never &gt; 0), not as a
/// linear layer's (dead = exactly zero). Values worked out by hand.
/// </summary>
public class OnnxGatedActivationTests
{
    static TensorProto Scalar(string name, float v)
    {
        var t = new TensorProto { Name = name, DataType = 1 };
        t.FloatData.Add(v);
        return t;
    }

    static string Model()
    {
        var g = new GraphProto { Name = "gated" };
        g.Initializer.AddRange([Scalar("sqrt2", MathF.Sqrt(2)), Scalar("one", 1), Scalar("half", 0.5f)]);
        g.Node.AddRange([
            Node("/fc/Identity", "Identity", ["x"], "h"),
            Node("/gelu/Div", "Div", ["h", "sqrt2"], "d"),
            Node("/gelu/Erf", "Erf", ["d"], "e"),
            Node("/gelu/Add", "Add", ["e", "one"], "a"),
            Node("/gelu/Mul", "Mul", ["h", "a"], "m"),
            Node("/gelu/Mul_1", "Mul", ["m", "half"], "gelu"),
            Node("/silu/Sigmoid", "Sigmoid", ["h"], "s"),
            Node("/silu/Mul", "Mul", ["h", "s"], "silu"),
            Node("/scale/Mul", "Mul", ["h", "half"], "scaled"),
        ]);
        g.Input.Add(Value("x", "N", 2));
        g.Output.AddRange([Value("gelu", "N", 2), Value("silu", "N", 2), Value("scaled", "N", 2)]);
        return Save(g);
    }

    [Fact]
    public void DecomposedGeluAndSiluAreJudgedAsActivations()
    {
        string path = Model();
        try
        {
            using var source = new OnnxActivationSource(path);
            // Unit 0 is x0 = 1, -1, 2 (> 0 on two samples); unit 1 is x1 = -3, -0.5, -1, never > 0. GELU and SiLU of a
            // negative number are negative, not zero (-3 · Φ(-3) = -0.004), so only the activation's rule finds unit 1 dead.
            var data = new Dataset("x", new Matrix(3, 2, [1, -3, -1, -0.5f, 2, -1]), null, [2]);
            var r = new DeadUnitStudy(new LayerSelector("gelu,silu,scale")).Run(source, data);
            foreach (var name in new[] { "gelu", "silu" })
            {
                var l = r.Layer(name);
                Assert.Equal("Mul", l.ModuleType);
                Assert.Equal(UnitActivation.Rectified, l.Stats.Activation);
                Assert.Equal(new[] { 2f / 3, 0f }, l.Stats.FiringRates);
                Assert.Equal([1], l.Stats.DeadUnits);
                Assert.True(l.Stats.Min < 0);
            }
            // A plain scale x · 0.5 is no activation: values of either sign, judged as a linear layer (nothing is zero).
            var scale = r.Layer("scale");
            Assert.Equal(UnitActivation.Linear, scale.Stats.Activation);
            Assert.Empty(scale.Stats.DeadUnits);
            // With no --layers the study takes the activations, decomposed ones too, and not the scale nor the
            // intermediate ops (their sites' types name no activation).
            Assert.Equal(["gelu", "silu"], new DeadUnitStudy().Run(source, data).Layers.Select(l => l.Layer).ToArray());
        }
        finally { File.Delete(path); }
    }
}
