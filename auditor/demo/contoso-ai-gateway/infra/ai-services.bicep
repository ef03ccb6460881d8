// Azure OpenAI accounts behind the contoso-ai-gateway APIM service, their logs, and the
// Application Insights resource the APIM logger writes token metrics to.
param location string = 'eastus'
param workspaceId string = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-ai-gateway/providers/Microsoft.OperationalInsights/workspaces/law-ai-gateway'

resource eastus 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: 'contoso-eastus'
  location: location
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: 'contoso-eastus'
    disableLocalAuth: true
    publicNetworkAccess: 'Disabled'
  }
}

resource westus 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: 'contoso-westus'
  location: 'westus'
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: 'contoso-westus'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      virtualNetworkRules: []
      ipRules: []
    }
  }
}

// The partners' account was created by hand for a pilot and never locked down.
resource partners 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  name: 'contoso-partners'
  location: location
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: 'contoso-partners'
    publicNetworkAccess: 'Enabled'
  }
}

resource eastusLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: eastus
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
  }
}

resource westusLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: westus
  properties: {
    workspaceId: workspaceId
    logs: [
      {
        category: 'RequestResponse'
        enabled: true
      }
      {
        category: 'Audit'
        enabled: true
      }
    ]
  }
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: 'appi-contoso-ai-gateway'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: workspaceId
    CustomMetricsOptedInType: 'WithDimensions'
  }
}
