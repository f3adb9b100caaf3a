using Onnx;
using Probe.Capture;

namespace Probe.Onnx;

/// <summary>
/// Where the values entering an ONNX site come from. The site's input must be produced directly by an affine node with
/// constant weights — <c>Conv</c> (any group), <c>Gemm</c> (transA 0) or <c>MatMul</c> followed by an <c>Add</c> of a
/// constant bias — optionally through one inference-mode <c>BatchNormalization</c> over the units, which is folded in:
/// s = γ / √(σ² + ε), W' = s·W (per output unit), b' = s·(b − μ) + β (Ioffe and Szegedy 2015, "Batch Normalization",
/// §3.1: in inference the transform is a fixed affine map). Anything else (a residual <c>Add</c> of two computed tensors,
/// a pooling, weights computed at run time) is <see cref="SiteOrigin.Unknown"/> with the reason:
/// a wrong cause is worse than none.
/// </summary>
internal static class OnnxOrigin
{
    /// <summary>The origin of <paramref name="site"/>'s input among <paramref name="sites"/> of <paramref name="graph"/>;
    /// <paramref name="perSample"/> gives a tensor's per-sample shape when ONNX Runtime knows every axis but the batch.</summary>
    public static SiteOrigin Find(OnnxGraph graph, IReadOnlyList<OnnxSiteDef> sites, OnnxSiteDef site, Func<string, int[]?> perSample)
    {
        string SiteOf(NodeProto n) => sites.FirstOrDefault(s => ReferenceEquals(graph.Nodes[s.Node], n))?.Name ?? (n.Name.Length > 0 ? n.Name : n.OpType);

        if (site.InputTensor is not { } input)
            return new SiteOrigin.Unknown($"'{site.Name}' ({site.OpType}) reads no per-sample input.");
        // A decomposed activation combines values that are all functions of its one pre-activation (its InputTensor).
        var computed = graph.Nodes[site.Node].Input.Where(graph.BatchValues.Contains).Distinct().ToList();
        if (computed.Count > 1 && graph.Gated(site.Node) is null)
            return new SiteOrigin.Unknown($"'{site.Name}' ({site.OpType}) combines {computed.Count} computed inputs ({string.Join(", ", computed.Select(t => graph.Producer(t) is { } p ? SiteOf(p) : t))}): its values do not come from one affine layer.");
        var producer = graph.Producer(input);
        if (producer is null)
            return new SiteOrigin.Unknown($"the input of '{site.Name}' is the model input '{input}', not the output of a layer.");

        string? folded = null;
        float[]? bnScale = null, bnShift = null;
        if (producer.OpType == "BatchNormalization")
        {
            if (OnnxGraph.IsTrainingBatchNorm(producer))
                return new SiteOrigin.Unknown($"'{SiteOf(producer)}' is a BatchNormalization in training mode, whose statistics depend on the batch.");
            var gamma = graph.Constant(producer.Input[1]);
            var beta = graph.Constant(producer.Input[2]);
            var mean = graph.Constant(producer.Input[3]);
            var variance = graph.Constant(producer.Input[4]);
            if (gamma is null || beta is null || mean is null || variance is null)
                return new SiteOrigin.Unknown($"the BatchNormalization '{SiteOf(producer)}' feeding '{site.Name}' has parameters computed at run time.");
            float eps = OnnxGraph.FloatAttribute(producer, "epsilon", 1e-5f);
            int c = gamma.Value.Values.Length;
            bnScale = new float[c];
            bnShift = new float[c];
            for (int i = 0; i < c; i++)
            {
                double s = gamma.Value.Values[i] / Math.Sqrt((double)variance.Value.Values[i] + eps);
                bnScale[i] = (float)s;
                bnShift[i] = (float)(beta.Value.Values[i] - s * mean.Value.Values[i]);
            }
            folded = SiteOf(producer);
            var before = graph.Producer(producer.Input[0]);
            if (before is null)
                return new SiteOrigin.Unknown($"the BatchNormalization '{folded}' feeding '{site.Name}' reads the model input directly.");
            // A BatchNormalization normalises axis 1: a Conv's channels, but the tokens of a MatMul over [N, T, D].
            if (before.OpType is not ("Conv" or "Gemm") && perSample(producer.Input[0]) is not { Length: 1 })
                return new SiteOrigin.Unknown($"the BatchNormalization '{folded}' normalises axis 1 of '{SiteOf(before)}''s output, which is not one vector of units per sample.");
            producer = before;
        }

        SiteOrigin result = producer.OpType switch
        {
            "Conv" => FromConv(graph, producer, SiteOf, perSample),
            "Gemm" => FromGemm(graph, producer, SiteOf),
            "MatMul" => FromMatMul(graph, producer, null, SiteOf),
            "Add" => FromAdd(graph, producer, site, SiteOf),
            _ => new SiteOrigin.Unknown($"the input of '{site.Name}' is the output of {producer.OpType} '{SiteOf(producer)}', which is not an affine layer (Conv, Gemm or MatMul with constant weights)."),
        };
        // Its input is read at the affine node's own site: a node that is not a site (its values' batch axis is unknown,
        // e.g. after a Reshape with a computed shape) has no input to read.
        if (result is SiteOrigin.Affine na && !sites.Any(s => s.Name == na.InputSite))
            return new SiteOrigin.Unknown($"the input of '{site.Name}' comes from '{na.InputSite}' ({na.LayerType}), which is not a site (its values' batch axis is not known), so its input's norm is not read.");
        if (result is not SiteOrigin.Affine a || bnScale is null) return result;
        if (bnScale.Length != a.Bias.Length)
            return new SiteOrigin.Unknown($"the BatchNormalization '{folded}' has {bnScale.Length} channels but '{a.Layer}' has {a.Bias.Length} units.");
        var w = (float[])a.Weight.Clone();
        var b = new float[a.Bias.Length];
        for (int u = 0; u < b.Length; u++)
        {
            double s = bnScale[u];
            for (int j = 0; j < a.InFeatures; j++) w[u * a.InFeatures + j] = (float)(s * a.Weight[u * a.InFeatures + j]);
            b[u] = (float)(s * a.Bias[u] + bnShift![u]);
        }
        return a with { Weight = w, Bias = b, Folded = folded };
    }

    static SiteOrigin FromConv(OnnxGraph graph, NodeProto conv, Func<NodeProto, string> siteOf, Func<string, int[]?> perSample)
    {
        string name = siteOf(conv);
        // A grouped convolution's unit weighs only its group's channels (its weight row is that long); a window over every
        // channel bounds that part too, only more loosely.
        var w = graph.Constant(conv.Input[1]);
        if (w is null) return new SiteOrigin.Unknown($"the weights of the Conv '{name}' are computed at run time.");
        int units = (int)w.Value.Dims[0];
        int fan = w.Value.Values.Length / units;
        float[] bias = new float[units];
        if (conv.Input.Count > 2 && conv.Input[2].Length > 0)
        {
            var b = graph.Constant(conv.Input[2]);
            if (b is null) return new SiteOrigin.Unknown($"the bias of the Conv '{name}' is computed at run time.");
            bias = b.Value.Values;
        }
        // Its units read windows of its input (Conv pads with zeros only), when the input's shape is known.
        ConvWindow? window = null;
        int spatial = w.Value.Dims.Length - 2;
        var dilations = OnnxGraph.IntsAttribute(conv, "dilations") ?? Enumerable.Repeat(1L, Math.Max(0, spatial)).ToArray();
        if (spatial > 0 && dilations.Length == spatial && perSample(conv.Input[0]) is { } shape && shape.Length == spatial + 1)
            window = new ConvWindow(shape, w.Value.Dims[2..].Select(k => (int)k).ToArray(), dilations.Select(d => (int)d).ToArray());
        return new SiteOrigin.Affine(name, "Conv", w.Value.Values, bias, fan, name, null) { Window = window };
    }

    static SiteOrigin FromGemm(OnnxGraph graph, NodeProto gemm, Func<NodeProto, string> siteOf)
    {
        string name = siteOf(gemm);
        if (OnnxGraph.IntAttribute(gemm, "transA", 0) != 0)
            return new SiteOrigin.Unknown($"the Gemm '{name}' transposes its input (transA = 1).");
        var bw = graph.Constant(gemm.Input[1]);
        if (bw is null || bw.Value.Dims.Length != 2) return new SiteOrigin.Unknown($"the weights of the Gemm '{name}' are computed at run time.");
        float alpha = OnnxGraph.FloatAttribute(gemm, "alpha", 1f), beta = OnnxGraph.FloatAttribute(gemm, "beta", 1f);
        bool transB = OnnxGraph.IntAttribute(gemm, "transB", 0) != 0;
        int r = (int)bw.Value.Dims[0], c = (int)bw.Value.Dims[1];
        int units = transB ? r : c, fan = transB ? c : r;
        var w = new float[units * fan];
        for (int u = 0; u < units; u++)
            for (int j = 0; j < fan; j++)
                w[u * fan + j] = alpha * (transB ? bw.Value.Values[u * c + j] : bw.Value.Values[j * c + u]);
        var bias = new float[units];
        if (gemm.Input.Count > 2 && gemm.Input[2].Length > 0)
        {
            var cb = graph.Constant(gemm.Input[2]);
            if (cb is null) return new SiteOrigin.Unknown($"the bias of the Gemm '{name}' is computed at run time.");
            var v = cb.Value.Values;
            if (v.Length != 1 && v.Length != units) return new SiteOrigin.Unknown($"the bias of the Gemm '{name}' is not one value per unit.");
            for (int u = 0; u < units; u++) bias[u] = beta * v[v.Length == 1 ? 0 : u];
        }
        return new SiteOrigin.Affine(name, "Gemm", w, bias, fan, name, null);
    }

    static SiteOrigin FromMatMul(OnnxGraph graph, NodeProto mm, float[]? bias, Func<NodeProto, string> siteOf)
    {
        string name = siteOf(mm);
        var bw = graph.Constant(mm.Input[1]);
        if (bw is null || bw.Value.Dims.Length != 2)
            return new SiteOrigin.Unknown($"the MatMul '{name}' multiplies two computed tensors (or weights that are not a matrix).");
        int fan = (int)bw.Value.Dims[0], units = (int)bw.Value.Dims[1];
        var w = new float[units * fan];
        for (int u = 0; u < units; u++)
            for (int j = 0; j < fan; j++)
                w[u * fan + j] = bw.Value.Values[j * units + u];
        if (bias is not null && bias.Length != units) return new SiteOrigin.Unknown($"the bias added to the MatMul '{name}' is not one value per unit.");
        return new SiteOrigin.Affine(name, "MatMul", w, bias ?? new float[units], fan, name, null);
    }

    static SiteOrigin FromAdd(OnnxGraph graph, NodeProto add, OnnxSiteDef site, Func<NodeProto, string> siteOf)
    {
        // MatMul + Add(bias): how torch exports a Linear applied to more than two dimensions.
        for (int side = 0; side < 2; side++)
        {
            var mm = graph.Producer(add.Input[side]);
            var b = graph.Constant(add.Input[1 - side]);
            if (mm?.OpType == "MatMul" && b is not null)
            {
                var r = FromMatMul(graph, mm, b.Value.Values, siteOf);
                return r is SiteOrigin.Affine a ? a with { Layer = siteOf(add), LayerType = "MatMul+Add" } : r;
            }
        }
        return new SiteOrigin.Unknown($"the input of '{site.Name}' is the output of Add '{siteOf(add)}', a sum of computed tensors (such as a residual connection): a unit's pre-activation is not one layer's affine map.");
    }
}
