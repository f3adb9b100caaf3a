using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Projection;
using Probe.Reporting;
using Probe.Similarity;

// <yourmodel>
public static class YourModelExample
{
    // model: a spec ("torchvision:resnet18", "cnn:3x32x32:10", ...) or an ONNX file; weights: .pt, .pth or
    // .safetensors (null with an ONNX file, which carries its own); data: any --data spec ("images:DIR?preset=imagenet").
    public static void Run(string model, string? weights, string dataSpec, string reportDir, TextWriter log)
    {
        using var source = ModelLoader.Open(model, weights);
        var data = DataSource.Parse(dataSpec).Open();      // streamed in batches
        using var _ = data as IDisposable;

        // Dead units and why they died (the Linear or Conv layer feeding each ReLU).
        foreach (var layer in new DeadUnitStudy().Run(source, data).Layers)
            log.WriteLine($"{layer.Layer}: {layer.Stats.DeadUnits.Length} dead of {layer.Stats.Units}; causes: "
                + string.Join(", ", layer.CauseCounts.Select(c => $"{c.Value} {c.Key}")));

        // Linear CKA between the input and every ReLU, on 1,000 samples.
        var cka = new CkaStudy(Layers: "input,type:ReLU", MaxSamples: 1000).Within(source, data).Table;
        log.WriteLine($"CKA(input, {cka.ColLayers[^1]}) = {cka.Values[0][^1]:F3}");

        // t-SNE of the last ReLU (rows in data order, 1,000 of them).
        var acts = new ActivationCapture(new LayerSelector(cka.ColLayers[^1])).ToMemory(source, data, maxSamples: 1000);
        var xy = new Tsne(Perplexity: 30, Seed: 0).Run(acts[cka.ColLayers[^1]]).Embedding;
        log.WriteLine($"t-SNE: {xy.Rows} x {xy.Cols}");

        // Everything as one report folder (index.html, report.json, figures/); it replaces reportDir.
        log.WriteLine(Report.ForModel(source, model, weights, data, dataSpec, new ReportSettings(MaxSamples: 1000), reportDir));
    }
}
// </yourmodel>
