using TorchSharp;
using static TorchSharp.torch;

namespace Probe.Capture;

/// <summary>The error for a failed forward pass: the innermost module that did not finish, its input shape and what it expects.</summary>
internal static class ForwardError
{
    public static ProbeException At(Exception e, string? module, string? type, nn.Module? m, long[]? inputShape, long[] batchShape)
    {
        string reason = e.Message.Split('\n')[0];
        if (module == null || m == null)
            return new ProbeException($"The model failed on input of shape [{string.Join(", ", batchShape)}]: {reason}", e);
        string expects = Expectation(m);
        return new ProbeException(
            $"Layer '{module}' ({type}) failed on input of shape [{string.Join(", ", inputShape ?? [])}]" +
            (expects.Length > 0 ? $" but expects {expects}" : "") +
            $" (the data's batch shape is [{string.Join(", ", batchShape)}]): {reason}", e);
    }

    static string Expectation(nn.Module m)
    {
        var w = m.named_parameters(recurse: false).FirstOrDefault(p => p.name == "weight").parameter;
        if (w is null) return "";
        var s = w.shape;
        return LayerSelector.TypeName(m) switch
        {
            "Linear" => $"[*, {s[1]}] (in_features {s[1]})",
            "Conv1d" => $"[*, {s[1]}, L] (in_channels {s[1]})",
            "Conv2d" => $"[*, {s[1]}, H, W] (in_channels {s[1]})",
            "Conv3d" => $"[*, {s[1]}, D, H, W] (in_channels {s[1]})",
            _ => $"inputs that fit its weight of shape [{string.Join(", ", s)}]",
        };
    }
}
