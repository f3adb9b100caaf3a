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

    /// <summary>nn.GELU and nn.SiLU of "h" as PyTorch before opset 20 exports them, to "gelu" and "silu" (constants: <see cref="GeluConstants"/>).</summary>
    static NodeProto[] GeluAndSilu() =>
    [
        Node("/gelu/Div", "Div", ["h", "sqrt2"], "d"),
        Node("/gelu/Erf", "Erf", ["d"], "e"),
        Node("/gelu/Add", "Add", ["e", "one"], "a"),
        Node("/gelu/Mul", "Mul", ["h", "a"], "m"),
        Node("/gelu/Mul_1", "Mul", ["m", "half"], "gelu"),
        Node("/silu/Sigmoid", "Sigmoid", ["h"], "s"),
        Node("/silu/Mul", "Mul", ["h", "s"], "silu"),
    ];

    static TensorProto[] GeluConstants() => [Scalar("sqrt2", MathF.Sqrt(2)), Scalar("one", 1), Scalar("half", 0.5f)];

    static string Model()
    {
        var g = new GraphProto { Name = "gated" };
        g.Initializer.AddRange(GeluConstants());
        g.Node.AddRange([
            Node("/fc/Identity", "Identity", ["x"], "h"),
            .. GeluAndSilu(),
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

    /// <summary>
    /// nn.GELU(approximate="tanh") as PyTorch 1.13 exports it at opsets 13 and 17 (node for node, constants first where
    /// it puts them): 0.5 · (r · (1 + tanh(√(2/π) · (r + 0.044715 · r · (r · r))))); and r · (r · r), a cube, which is
    /// no activation.
    /// </summary>
    [Fact]
    public void TheTanhApproximationOfGeluIsJudgedAsGeluAndACubeIsNot()
    {
        var g = new GraphProto { Name = "gelu_tanh" };
        g.Initializer.AddRange([Scalar("c0", 0.044715f), Scalar("c1", MathF.Sqrt(2 / MathF.PI)), Scalar("c2", 1), Scalar("c3", 0.5f)]);
        g.Node.AddRange([
            Node("/fc/Identity", "Identity", ["x"], "r"),
            Node("/act/Mul", "Mul", ["r", "r"], "sq"),
            Node("/act/Mul_1", "Mul", ["r", "sq"], "cube"),
            Node("/act/Mul_2", "Mul", ["c0", "cube"], "m2"),
            Node("/act/Add", "Add", ["r", "m2"], "inner"),
            Node("/act/Mul_3", "Mul", ["c1", "inner"], "m3"),
            Node("/act/Tanh", "Tanh", ["m3"], "th"),
            Node("/act/Add_1", "Add", ["c2", "th"], "a1"),
            Node("/act/Mul_4", "Mul", ["r", "a1"], "m4"),
            Node("/act/Mul_5", "Mul", ["c3", "m4"], "gelu"),
        ]);
        g.Input.Add(Value("x", "N", 2));
        g.Output.AddRange([Value("gelu", "N", 2), Value("cube", "N", 2)]);
        string path = Save(g);
        try
        {
            using var source = new OnnxActivationSource(path);
            // Sites: the scope's output "act" (Mul_5) and its other ops "act.mul#0".."act.mul#4" (the cube is act.mul#1).
            Assert.Equal("GELU", source.Sites.Single(s => s.Name == "act").ActivationType);
            Assert.Null(source.Sites.Single(s => s.Name == "act.mul#1").ActivationType);
            // Unit 0 is 1, -1, 2 (> 0 on two samples); unit 1 is -3, -0.5, -1: its GELU values are negative (tanh-GELU(-0.5)
            // = -0.154), never > 0, so it is dead by GELU's rule and not by a linear layer's (nothing is exactly zero).
            var data = new Dataset("x", new Matrix(3, 2, [1, -3, -1, -0.5f, 2, -1]), null, [2]);
            var gelu = new DeadUnitStudy(new LayerSelector("act")).Run(source, data).Layer("act");
            Assert.Equal(UnitActivation.Rectified, gelu.Stats.Activation);
            Assert.Equal(new[] { 2f / 3, 0f }, gelu.Stats.FiringRates);
            Assert.Equal([1], gelu.Stats.DeadUnits);
            Assert.Equal(-0.1588, gelu.Stats.Min, 4);   // tanh-GELU(-1) worked by hand: 0.5 · -1 · (1 + tanh(-0.8353))
            var cube = new DeadUnitStudy(new LayerSelector("act.mul#1")).Run(source, data).Layer("act.mul#1");
            Assert.Equal(UnitActivation.Linear, cube.Stats.Activation);
            Assert.Empty(cube.Stats.DeadUnits);
            // By default the study takes the activation alone, not the ops inside its scope.
            Assert.Equal(["act"], new DeadUnitStudy().Run(source, data).Layers.Select(l => l.Layer).ToArray());
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// A decomposed GELU and SiLU after a Gemm (PyTorch's export of Linear then nn.GELU / nn.SiLU): the activation's input
    /// is the Gemm's output, so a dead unit's cause comes from the Gemm's weights and bias, and its largest pre-activation
    /// is the Gemm output's, as for a ReLU.
    /// </summary>
    [Fact]
    public void ADecomposedActivationAfterAGemmIsExplainedByTheGemm()
    {
        var g = new GraphProto { Name = "gemm_gelu" };
        var w = Floats("w", [2, 2], 1, 0, 0, 1);
        var b = Floats("b", [2], 0, -30);
        g.Initializer.AddRange([w, b, .. GeluConstants()]);
        g.Node.AddRange([
            Node("/fc/Gemm", "Gemm", ["x", "w", "b"], "h"),
            .. GeluAndSilu(),
        ]);
        g.Input.Add(Value("x", "N", 2));
        g.Output.AddRange([Value("gelu", "N", 2), Value("silu", "N", 2)]);
        string path = Save(g);
        try
        {
            using var source = new OnnxActivationSource(path);
            // h = (x0, x1 - 30): x = (1, 3), (-1, 5), (2, -4) gives h1 = -27, -25, -34, never > 0 (largest -25); ||x|| <= 5.1,
            // so -30 + 1 x 5.1 < 0: the bias alone keeps unit 1 dead.
            var data = new Dataset("x", new Matrix(3, 2, [1, 3, -1, 5, 2, -4]), null, [2]);
            var r = new DeadUnitStudy(new LayerSelector("gelu,silu")).Run(source, data);
            foreach (var name in new[] { "gelu", "silu" })
            {
                var l = r.Layer(name);
                Assert.Equal("fc", l.PrecedingLayer);
                Assert.Equal([1], l.Stats.DeadUnits);
                var cause = Assert.Single(l.Causes);
                Assert.Equal(DeadUnitReason.BiasBelowReachableInput, cause.Reason);
                Assert.Equal(-25, cause.MaxPreActivation, 5);
                Assert.Equal(Math.Sqrt(26), cause.MaxInputNorm, 5);
                Assert.Equal(-30 + Math.Sqrt(26), cause.ReachableBound, 4);
            }
        }
        finally { File.Delete(path); }
    }
}
