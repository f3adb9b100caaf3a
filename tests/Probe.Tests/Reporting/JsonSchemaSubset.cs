using System.Text.Json;
using System.Text.RegularExpressions;

namespace Probe.Tests.Reporting;

/// <summary>
/// A validator for the subset of JSON Schema (2020-12) that schemas/report.schema.json uses: type, const, enum,
/// required, properties, additionalProperties, propertyNames, items, pattern, minimum and local $ref (#/$defs/...).
/// Returns every violation with its JSON path.
/// </summary>
internal sealed class JsonSchemaSubset(JsonElement root)
{
    private static readonly HashSet<string> Known = ["$schema", "$id", "title", "description", "type", "const", "enum", "required", "properties",
        "additionalProperties", "propertyNames", "items", "pattern", "minimum", "$ref", "$defs"];

    public List<string> Validate(JsonElement doc)
    {
        var errors = new List<string>();
        Check(root, doc, "$", errors);
        return errors;
    }

    private JsonElement Resolve(string reference)
    {
        if (!reference.StartsWith("#/", StringComparison.Ordinal)) throw new NotSupportedException("Only local references: " + reference);
        var e = root;
        foreach (var part in reference[2..].Split('/')) e = e.GetProperty(part);
        return e;
    }

    private void Check(JsonElement schema, JsonElement v, string path, List<string> errors)
    {
        foreach (var p in schema.EnumerateObject())
            if (!Known.Contains(p.Name)) throw new NotSupportedException($"Schema keyword '{p.Name}' is not in the supported subset.");
        if (schema.TryGetProperty("$ref", out var r)) Check(Resolve(r.GetString()!), v, path, errors);
        if (schema.TryGetProperty("type", out var type))
        {
            var types = type.ValueKind == JsonValueKind.Array ? type.EnumerateArray().Select(t => t.GetString()!).ToList() : [type.GetString()!];
            if (!types.Any(t => Is(v, t))) { errors.Add($"{path}: expected {string.Join(" or ", types)}, got {v.ValueKind}"); return; }
        }
        if (schema.TryGetProperty("const", out var c) && !JsonElement.DeepEquals(c, v)) errors.Add($"{path}: expected {c.GetRawText()}");
        if (schema.TryGetProperty("enum", out var en) && !en.EnumerateArray().Any(x => JsonElement.DeepEquals(x, v))) errors.Add($"{path}: not one of {en.GetRawText()}");
        if (v.ValueKind == JsonValueKind.String && schema.TryGetProperty("pattern", out var pat) && !Regex.IsMatch(v.GetString()!, pat.GetString()!))
            errors.Add($"{path}: '{v.GetString()}' does not match {pat.GetString()}");
        if (v.ValueKind == JsonValueKind.Number && schema.TryGetProperty("minimum", out var min) && v.GetDouble() < min.GetDouble())
            errors.Add($"{path}: {v.GetDouble()} is below {min.GetDouble()}");
        if (v.ValueKind == JsonValueKind.Object)
        {
            if (schema.TryGetProperty("required", out var req))
                foreach (var k in req.EnumerateArray())
                    if (!v.TryGetProperty(k.GetString()!, out _)) errors.Add($"{path}: missing '{k.GetString()}'");
            schema.TryGetProperty("properties", out var props);
            foreach (var p in v.EnumerateObject())
            {
                string child = path + "." + p.Name;
                if (schema.TryGetProperty("propertyNames", out var names))
                {
                    using var nameDoc = JsonDocument.Parse(JsonSerializer.Serialize(p.Name));
                    Check(names, nameDoc.RootElement.Clone(), child + " (key)", errors);
                }
                if (props.ValueKind == JsonValueKind.Object && props.TryGetProperty(p.Name, out var ps)) Check(ps, p.Value, child, errors);
                else if (schema.TryGetProperty("additionalProperties", out var ap))
                {
                    if (ap.ValueKind == JsonValueKind.False) errors.Add($"{path}: unexpected key '{p.Name}'");
                    else if (ap.ValueKind == JsonValueKind.Object) Check(ap, p.Value, child, errors);
                }
            }
        }
        if (v.ValueKind == JsonValueKind.Array && schema.TryGetProperty("items", out var items))
        {
            int i = 0;
            foreach (var x in v.EnumerateArray()) Check(items, x, $"{path}[{i++}]", errors);
        }
    }

    private static bool Is(JsonElement v, string t) => t switch
    {
        "object" => v.ValueKind == JsonValueKind.Object,
        "array" => v.ValueKind == JsonValueKind.Array,
        "string" => v.ValueKind == JsonValueKind.String,
        "number" => v.ValueKind == JsonValueKind.Number,
        "integer" => v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out _),
        "boolean" => v.ValueKind is JsonValueKind.True or JsonValueKind.False,
        "null" => v.ValueKind == JsonValueKind.Null,
        _ => throw new NotSupportedException("type " + t),
    };
}
