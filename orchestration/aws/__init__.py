"""Deploying and running the pipeline on AWS: packaging, the CloudFormation stack, remote runs."""
